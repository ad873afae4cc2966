// Helpers of the redis:// suites: registries on the test server, and the C ABI helpers of
// tests/capi (configs, RAII handles, stats, polling), which apply unchanged.
#pragma once

#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <string>

#include "capi_util.hpp"
#include "redis_server.hpp"

namespace ptl_test {

// A registry on this process's test server, closed at scope exit.
class RedisReg {
 public:
  explicit RedisReg(const std::string& query = "") : RedisReg(redis().uri(query), true) {}
  RedisReg(const std::string& uri, bool) {
    const int rc = ptl_registry_open(uri.c_str(), &r_);
    EXPECT_EQ(rc, PTL_OK) << uri << ": " << ptl_last_error();
  }
  RedisReg(const RedisReg&) = delete;
  RedisReg& operator=(const RedisReg&) = delete;
  ~RedisReg() { ptl_registry_close(r_); }
  operator ptl_registry*() const { return r_; }

 private:
  ptl_registry* r_ = nullptr;
};

// Registers `name` on reg and returns a handle to it.
inline Lim redis_limiter(ptl_registry* reg, const char* name, const ptl_limiter_config& cfg) {
  EXPECT_EQ(ptl_registry_register(reg, name, &cfg, PTL_REPLACE), PTL_OK) << ptl_last_error();
  Lim lim;
  EXPECT_EQ(ptl_registry_get(reg, name, lim.out()), PTL_OK) << ptl_last_error();
  return lim;
}

}  // namespace ptl_test
