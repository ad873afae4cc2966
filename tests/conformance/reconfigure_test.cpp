// SPDX-License-Identifier: MIT
// ptl_limiter_reconfigure on every backend: live limit changes keep in-flight permits and
// the window's history, wake waiters that now fit and fail those that never can.
#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Reconfigure);

TEST_P(Reconfigure, LoweringBelowInFlightHoldsNewAcquires) {
  Lim lim = make(make_cfg(4));
  ptl_permit p[4];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  const ptl_limiter_config c2 = make_cfg(2);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c2), PTL_OK) << ptl_last_error();
  EXPECT_EQ(stats_of(lim).config.max_concurrent, 2u);
  EXPECT_EQ(stats_of(lim).in_flight, 4u);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  for (int i = 0; i < 2; ++i) {  // 4 -> 3 -> 2 in flight: still no room under 2
    ASSERT_EQ(ptl_release(lim, p[i]), PTL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_FALSE(waiter.done()) << "granted with " << 3 - i << " in flight and max 2";
    ptl_permit q = 0;
    EXPECT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_EAGAIN);
  }
  ASSERT_EQ(ptl_release(lim, p[2]), PTL_OK);  // 1 in flight: room
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 2u);
  waiter.finish();
  EXPECT_EQ(ptl_release(lim, p[3]), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(Reconfigure, RaisingWakesWaitersOfEveryRegistryAtOnce) {
  Lim lim = make(make_cfg(1), "raise");
  Lim other_handle = get(peer(), "raise");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Holder w1(lim), w2(other_handle);
  ASSERT_TRUE(wait_waiting(lim, 2));
  const ptl_limiter_config c3 = make_cfg(3);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c3), PTL_OK);
  ASSERT_TRUE(w1.wait_done(5 * kSec)) << "raising max_concurrent did not wake the waiters";
  ASSERT_TRUE(w2.wait_done(5 * kSec)) << "the waiter of the other registry slept on";
  EXPECT_EQ(w1.rc(), PTL_OK);
  EXPECT_EQ(w2.rc(), PTL_OK);
  const ptl_limiter_stats s = stats_of(other_handle);
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.in_flight, 3u) << "the permit held across the reconfigure still counts";
  w1.finish();
  w2.finish();
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
}

TEST_P(Reconfigure, RemovingTheWindowWakesAWindowBlockedWaiter) {
  Lim lim = make(make_cfg(5, 1, 30.0));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  const ptl_limiter_config nowin = make_cfg(5, 0, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &nowin), PTL_OK);
  ASSERT_TRUE(waiter.wait_done(5 * kSec)) << "still waiting on a window that was removed";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST_P(Reconfigure, KeepsWindowHistory) {
  use_test_time();
  Lim lim = make(make_cfg(10, 2, 30.0));
  const int64_t t0 = now();
  ptl_permit p = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  const ptl_limiter_config c3 = make_cfg(10, 3, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c3), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_count, 2u);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN) << "history lost on reconfigure";
  const ptl_limiter_config c1 = make_cfg(10, 1, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c1), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN);
  // A shorter window ages the same history out sooner.
  const ptl_limiter_config shortw = make_cfg(10, 3, 0.1);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &shortw), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN) << "history lost on window change";
  Holder waiter(lim, 1, 5 * kSec);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_TRUE(ends_at(waiter, t0 + 100 * kMs + 1)) << "not the first grant's 0.1 s window";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST_P(Reconfigure, PermitsSurviveModeSwitches) {
  // Permits taken on a concurrency-only limiter stay counted and releasable after a
  // window is added, and after it is removed again.
  Lim lim = make(make_cfg(3));
  ptl_permit p[3];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  const ptl_limiter_config win = make_cfg(3, 100, 1.0, 1000);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &win), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  ptl_permit q = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_EAGAIN);
  ASSERT_EQ(ptl_release(lim, p[0]), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  const ptl_limiter_config plain = make_cfg(3);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &plain), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  ptl_permit r = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &r, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, p[0]), PTL_EINVAL) << "double release after a mode switch";
  EXPECT_EQ(ptl_release(lim, p[1]), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p[2]), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(Reconfigure, ShrinkingTheCostLimitFailsAWaiterThatCanNeverFit) {
  Lim lim = make(make_cfg(10, 0, 30.0, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK);
  Holder big(lim, 8);
  ASSERT_TRUE(wait_waiting(lim, 1));
  const ptl_limiter_config small = make_cfg(10, 0, 30.0, 5);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &small), PTL_OK);
  ASSERT_TRUE(big.wait_done(5 * kSec)) << "a waiter that can never fit stayed queued";
  EXPECT_EQ(big.rc(), PTL_EINVAL);
  EXPECT_EQ(stats_of(lim).waiting, 0u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
