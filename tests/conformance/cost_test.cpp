// SPDX-License-Identifier: MIT
// Weighted costs on every backend: limits, release_cost corrections, sliding, overflow.
#include <climits>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Cost);

TEST_P(Cost, AboveMaxIsEinval) {
  Lim lim = make(make_cfg(5, 0, 1.0, 10));
  ptl_permit p = 0;
  const ptl_limiter_stats before = stats_of(lim);
  EXPECT_EQ(ptl_acquire_cost(lim, 11, 0, &p), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("max_cost_per_window")) << ptl_last_error();
  EXPECT_EQ(ptl_acquire_cost(lim, 11, -1, &p), PTL_EINVAL) << "must not wait forever";
  EXPECT_EQ(ptl_acquire_cost(lim, UINT64_MAX, -1, &p), PTL_EINVAL);
  std::atomic<int> calls{0};
  uint64_t ticket = 0;
  EXPECT_EQ(ptl_acquire_async(
                lim, 11, -1,
                [](void* u, int, ptl_permit) { static_cast<std::atomic<int>*>(u)->fetch_add(1); },
                &calls, &ticket),
            PTL_EINVAL);
  expect_same_counts(before, stats_of(lim));
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK) << "exactly the max is fine";
  EXPECT_EQ(stats_of(lim).current_window_cost, 10u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(calls.load(), 0) << "the callback of a failed ptl_acquire_async ran";
}

TEST_P(Cost, PlainAcquireCostsOneUnit) {
  Lim lim = make(make_cfg(5, 0, 10.0, 3));
  ptl_permit p[4];
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ptl_acquire(lim, 0, &p[i]), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 3u);
  EXPECT_EQ(ptl_acquire(lim, 0, &p[3]), PTL_EAGAIN) << "cost limit 3 let a 4th unit in";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ptl_release(lim, p[i]), PTL_OK);
}

TEST_P(Cost, CostIsIgnoredWithoutWeightedLimit) {
  Lim lim = make(make_cfg(2));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 1000000, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release_cost(lim, p, 5), PTL_OK);
}

TEST_P(Cost, ReleaseCostCorrectsTheWindow) {
  Lim lim = make(make_cfg(5, 0, 10.0, 10));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 6, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire_cost(lim, 5, 0, &q), PTL_EAGAIN) << "6 + 5 > 10";
  EXPECT_EQ(stats_of(lim).current_window_cost, 6u);
  ASSERT_EQ(ptl_release_cost(lim, p, 2), PTL_OK);  // down: it really cost 2
  EXPECT_EQ(stats_of(lim).current_window_cost, 2u);
  ASSERT_EQ(ptl_acquire_cost(lim, 3, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 5u);
  ASSERT_EQ(ptl_release_cost(lim, p, 7), PTL_OK);  // up
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.current_window_cost, 9u);
  EXPECT_EQ(s.in_flight, 0u);
  // 9 of 10 used: a cost of 2 does not fit, a cost of 1 does.
  EXPECT_EQ(ptl_acquire_cost(lim, 2, 0, &p), PTL_EAGAIN);
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, p, 0), PTL_OK);  // it cost nothing after all
  EXPECT_EQ(stats_of(lim).current_window_cost, 9u);
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);  // plain release keeps the stated cost
  EXPECT_EQ(stats_of(lim).current_window_cost, 10u);
  EXPECT_EQ(ptl_acquire(lim, 0, &p), PTL_EAGAIN) << "the window holds 10 of 10";
}

TEST_P(Cost, DownwardCorrectionLetsAWaiterIn) {
  Lim lim = make(make_cfg(5, 0, 30.0, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK);
  Holder waiter(lim, 6);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_release_cost(lim, p, 3), PTL_OK);  // 3 + 6 <= 10: the waiter fits now
  ASSERT_TRUE(waiter.wait_done(5 * kSec)) << "a downward correction did not wake the waiter";
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 9u);
}

TEST_P(Cost, CostWindowSlides) {
  use_test_time();
  Lim lim = make(make_cfg(5, 0, 0.15, 10));
  ptl_permit p = 0;
  const int64_t t0 = now();
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder four(lim, 4, 20 * kSec);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_TRUE(ends_at(four, t0 + 150 * kMs + 1)) << "cost granted before the window slid";
  EXPECT_EQ(four.rc(), PTL_OK);
  four.finish();  // releases
  const ptl_limiter_stats s = stats_of(lim);
  if (now() < t0 + 300 * kMs) {  // the cost-4 grant (after t0 + 150 ms) still counts
    EXPECT_EQ(s.current_window_cost, 4u);
  }
}

TEST_P(Cost, CorrectionAfterTheGrantLeftTheWindowCostsNothingNow) {
  // A permit held longer than the window: its grant has left the window, so correcting
  // its cost on release must not leave cost behind that never expires.
  use_test_time();
  Lim lim = make(make_cfg(10, 0, 0.1, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 5, 0, &p), PTL_OK);
  advance(100 * kMs + 1);  // the grant leaves the window (which includes its end)
  ASSERT_EQ(ptl_release_cost(lim, p, 9), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 0u);
  ptl_permit q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &q), PTL_OK) << "the late correction still counts";
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST_P(Cost, HugeCorrectionsDoNotWrapTheWindow) {
  // A release_cost far above the limit fills the window; it must not wrap the window's
  // cost sum around to "empty".
  Lim lim = make(make_cfg(10, 0, 30.0, 10));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, p, uint64_t{1} << 63), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, q, uint64_t{1} << 63), PTL_OK);  // 2^64 would wrap to 0
  ptl_permit r = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &r, &retry), PTL_EAGAIN) << "the window's cost wrapped around";
  EXPECT_GT(retry, 0);
  EXPECT_EQ(ptl_acquire_cost(lim, 1, 0, &r), PTL_EAGAIN);
  EXPECT_GE(stats_of(lim).current_window_cost, 10u);

  Lim lim2 = make(make_cfg(10, 0, 30.0, 10));
  ASSERT_EQ(ptl_acquire_cost(lim2, 1, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim2, p, UINT64_MAX), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim2, &r, nullptr), PTL_EAGAIN) << "UINT64_MAX + 1 wrapped to 0";
}

TEST_P(Cost, HugeLimitsDoNotOverflow) {
  // Up to the largest limit the backend holds exactly (UINT64_MAX; redis:// 2^53 - 1).
  const uint64_t max = backend().max_limit;
  Lim lim = make(make_cfg(10, 0, 30.0, max));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, max - 1, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_acquire_cost(lim, 5, 0, &q), PTL_EAGAIN) << "cost sum overflowed past the max";
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_OK) << "exactly the max fits";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, max);

  Lim lim2 = make(make_cfg(UINT32_MAX, max, 1.0));
  ASSERT_EQ(ptl_acquire(lim2, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(lim2, p), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
