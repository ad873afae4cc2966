// SPDX-License-Identifier: MIT
// Helpers shared by the limiter suites: a holding thread, and a stats comparison.
#pragma once

#include "capi_util.hpp"

namespace ptl_test {

// A thread that acquires, reports, holds until told, then releases. Its times are
// limiter_now() times.
class Holder {
 public:
  // A finite default timeout: a limiter that never grants fails the test, not hangs it.
  Holder(ptl_limiter* lim, uint64_t cost = 1, int64_t timeout_ns = 20 * kSec)
      : Holder(lim, [lim, cost, timeout_ns](ptl_permit* p) {
          return ptl_acquire_cost(lim, cost, timeout_ns, p);
        }) {}
  // Acquires by `acquire` (ptl_acquire_amounts, say), which returns a status and sets *p.
  Holder(ptl_limiter* lim, std::function<int(ptl_permit*)> acquire)
      : lim_(lim), t_([this, acquire = std::move(acquire)] {
          t_before_ = limiter_now();
          ptl_permit p = 0;
          int rc = acquire(&p);
          t_after_ = limiter_now();
          rc_ = rc;
          done_ = true;
          while (!go_) std::this_thread::sleep_for(std::chrono::microseconds(200));
          if (rc == PTL_OK) {
            EXPECT_EQ(ptl_release(lim_, p), PTL_OK);
          }
        }) {}
  ~Holder() { finish(); }
  void finish() {
    go_ = true;
    // On simulated time a waiter left blocked by a failing test would never time out.
    if (!done_ && limiter_time().unblock) limiter_time().unblock();
    if (t_.joinable()) t_.join();
  }
  bool done() const { return done_; }
  bool wait_done(int64_t timeout_ns = 10 * kSec) {
    return wait_until([this] { return done_.load(); }, timeout_ns);
  }
  int rc() const { return rc_; }
  int64_t t_before() const { return t_before_; }
  int64_t t_after() const { return t_after_; }

 private:
  ptl_limiter* lim_;
  std::atomic<bool> done_{false}, go_{false};
  std::atomic<int> rc_{1};
  std::atomic<int64_t> t_before_{0}, t_after_{0};
  std::thread t_;
};

// The limiter's free permit, taken: what comes next queues behind it (max_concurrent 1).
inline ptl_permit take(ptl_limiter* lim) {
  ptl_permit held = 0;
  EXPECT_EQ(ptl_acquire(lim, 0, &held), PTL_OK) << ptl_last_error();
  return held;
}

// One grant of cost 1, given back at once: it stays in the window.
inline void one_grant(ptl_limiter* lim) {
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

inline void expect_same_counts(const ptl_limiter_stats& a, const ptl_limiter_stats& b) {
  EXPECT_EQ(a.in_flight, b.in_flight);
  EXPECT_EQ(a.waiting, b.waiting);
  EXPECT_EQ(a.current_window_count, b.current_window_count);
  EXPECT_EQ(a.current_window_cost, b.current_window_cost);
  EXPECT_EQ(a.total_acquired, b.total_acquired);
  EXPECT_EQ(a.total_timeouts, b.total_timeouts);
  EXPECT_EQ(a.total_cancelled, b.total_cancelled);
}

}  // namespace ptl_test
