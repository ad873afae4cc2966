// SPDX-License-Identifier: MIT
// Small helpers shared by the C ABI suites: configs, RAII handles, stats, polling.
#pragma once

#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "grant_observer.hpp"

namespace ptl_test {

constexpr int64_t kMs = 1000000;  // ns per millisecond
constexpr int64_t kSec = 1000000000;

inline ptl_limiter_config make_cfg(uint32_t max_concurrent, uint64_t max_per_window = 0,
                                   double window_seconds = 60.0, uint64_t max_cost_per_window = 0) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = max_concurrent;
  cfg.max_per_window = max_per_window;
  cfg.window_seconds = window_seconds;
  cfg.max_cost_per_window = max_cost_per_window;
  return cfg;
}

// A policy of `limits` (which must outlive it), as ptl_policy_init makes it.
inline ptl_policy policy_of(const std::vector<ptl_limit>& limits) {
  ptl_policy p;
  ptl_policy_init(&p);
  p.n_limits = static_cast<uint32_t>(limits.size());
  p.limits = limits.data();
  return p;
}

// One reference to a limiter, dropped at scope exit.
class Lim {
 public:
  Lim() = default;
  explicit Lim(ptl_limiter* l) : l_(l) {}
  Lim(const Lim&) = delete;
  Lim& operator=(const Lim&) = delete;
  Lim(Lim&& o) noexcept : l_(o.l_) { o.l_ = nullptr; }
  ~Lim() { ptl_limiter_unref(l_); }
  ptl_limiter* get() const { return l_; }
  ptl_limiter** out() { return &l_; }
  operator ptl_limiter*() const { return l_; }
  ptl_limiter* release() {
    ptl_limiter* l = l_;
    l_ = nullptr;
    return l;
  }

 private:
  ptl_limiter* l_ = nullptr;
};

inline Lim create_limiter(const ptl_limiter_config& cfg) {
  Lim lim;
  int rc = ptl_limiter_create(&cfg, lim.out());
  EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  return lim;
}

// A private "local:" registry, closed at scope exit.
class Reg {
 public:
  Reg() {
    int rc = ptl_registry_open("local:", &r_);
    EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  }
  Reg(const Reg&) = delete;
  Reg& operator=(const Reg&) = delete;
  ~Reg() { ptl_registry_close(r_); }
  operator ptl_registry*() const { return r_; }

 private:
  ptl_registry* r_ = nullptr;
};

// The time the limiters under test read, for timestamps compared with their windows,
// timeouts and penalties: mono_ns(), unless a suite put its local: limiters on simulated
// time (tests/conformance: Conformance::use_test_time) and installed that clock here.
// Set before the test starts threads and cleared after they are joined.
struct LimiterTime {
  std::function<int64_t()> now;   // empty: mono_ns()
  std::function<void()> unblock;  // frees waiters a failing test left blocked on it
};
inline LimiterTime& limiter_time() {
  static LimiterTime time;
  return time;
}
inline int64_t limiter_now() {
  const LimiterTime& t = limiter_time();
  return t.now ? t.now() : mono_ns();
}

inline ptl_limiter_stats stats_of(ptl_limiter* lim) {
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  int rc = ptl_limiter_stats_get(lim, &s);
  EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  return s;
}

inline ptl_limiter_stats reg_stats(ptl_registry* reg, const char* name) {
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(reg, name, &s), PTL_OK) << ptl_last_error();
  return s;
}

// Polls pred every millisecond until it holds or timeout passes (generous timeouts:
// these wait for the library to reach a state, they do not measure speed).
// How many limiters ptl_registry_list reports (asserting the listing itself succeeds).
inline int count_listed(ptl_registry* reg) {
  int count = 0;
  const int rc = ptl_registry_list(
      reg,
      [](void* u, const char*, const ptl_limiter_config*) {
        ++*static_cast<int*>(u);
        return 0;
      },
      &count);
  EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  return count;
}

inline bool wait_until(const std::function<bool()>& pred, int64_t timeout_ns = 10 * kSec) {
  const int64_t end = mono_ns() + timeout_ns;
  while (!pred()) {
    if (mono_ns() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline bool wait_waiting(ptl_limiter* lim, uint32_t n, int64_t timeout_ns = 10 * kSec) {
  return wait_until([&] { return stats_of(lim).waiting == n; }, timeout_ns);
}

// For a call that must be refused (PTL_EAGAIN / PTL_ETIMEDOUT) while the limiter is
// full until `until` (limiter_now() time): checks the status only if the call ended
// before then. After that, any outcome is legitimate (the test thread stalled), and a
// permit that was granted is given back. Returns true if the status was checked.
inline bool refused_before(ptl_limiter* lim, int rc, ptl_permit p, int64_t until,
                           int expected = PTL_EAGAIN) {
  const int64_t ended = limiter_now();
  if (ended < until) {
    EXPECT_EQ(rc, expected) << ptl_status_name(rc) << " " << (until - ended) / 1000000
                            << " ms before the limiter could have room";
    if (rc == PTL_OK) ptl_release(lim, p);
    return true;
  }
  if (rc == PTL_OK) {
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  }
  return false;
}

inline void sleep_ns(int64_t ns) {
  std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// True if the last error message of this thread mentions `word` (case-insensitive).
inline bool last_error_mentions(const std::string& word) {
  return lower(ptl_last_error()).find(lower(word)) != std::string::npos;
}

// A unique limiter name for the process default registry.
inline std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// Runs fn on another thread; if it has not finished after timeout_ns the process exits
// with a message (a deadlock or a hang cannot be recovered from in-process).
inline void run_or_die(const char* what, const std::function<void()>& fn,
                       int64_t timeout_ns = 30 * kSec) {
  std::packaged_task<void()> task(fn);
  auto fut = task.get_future();
  std::thread t(std::move(task));
  if (fut.wait_for(std::chrono::nanoseconds(timeout_ns)) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: %s did not finish in %lld s (deadlock or hang)\n", what,
                 static_cast<long long>(timeout_ns / kSec));
    std::fflush(stderr);
    std::_Exit(3);
  }
  t.join();
  fut.get();
}

}  // namespace ptl_test
