// SPDX-License-Identifier: MIT
// Helpers of the shm:// suites: a registry on a segment of its own, removed at scope
// exit, and a limiter registered in it. Builds on the C ABI suites' helpers.
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <string>

#include "capi_util.hpp"
#include "limiter_util.hpp"

namespace ptl_test {

// A segment name no other test (or test process) uses.
inline std::string unique_segment(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

inline std::string shm_file(const std::string& segment) {
  return "/dev/shm/ptl." + segment;
}

inline void remove_segment(const std::string& segment) {
  shm_unlink(("/ptl." + segment).c_str());
}

// An shm:// registry on a fresh segment; the segment file is removed at scope exit.
class ShmReg {
 public:
  explicit ShmReg(const std::string& query = "") : segment_(unique_segment("ptl-test")) {
    remove_segment(segment_);
    const std::string u = uri() + query;
    const int rc = ptl_registry_open(u.c_str(), &r_);
    EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  }
  ShmReg(const ShmReg&) = delete;
  ShmReg& operator=(const ShmReg&) = delete;
  ~ShmReg() {
    ptl_registry_close(r_);
    remove_segment(segment_);
  }
  operator ptl_registry*() const { return r_; }
  const std::string& segment() const { return segment_; }
  std::string uri() const { return "shm://" + segment_; }

  // Registers a new limiter (a unique name unless given) and returns a handle on it.
  Lim make(const ptl_limiter_config& cfg, std::string name = "") {
    if (name.empty()) name = "lim-" + std::to_string(next_++);
    Lim lim;
    EXPECT_EQ(ptl_registry_register(r_, name.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
    EXPECT_EQ(ptl_registry_get(r_, name.c_str(), lim.out()), PTL_OK) << ptl_last_error();
    return lim;
  }

 private:
  std::string segment_;
  ptl_registry* r_ = nullptr;
  int next_ = 0;
};

// A second registry on the same segment (another "component" of the process).
class ShmOpen {
 public:
  explicit ShmOpen(const std::string& uri) {
    const int rc = ptl_registry_open(uri.c_str(), &r_);
    EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  }
  ShmOpen(const ShmOpen&) = delete;
  ShmOpen& operator=(const ShmOpen&) = delete;
  ~ShmOpen() { ptl_registry_close(r_); }
  operator ptl_registry*() const { return r_; }

 private:
  ptl_registry* r_ = nullptr;
};

}  // namespace ptl_test
