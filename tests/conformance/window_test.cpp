// SPDX-License-Identifier: MIT
// The strict sliding window on every backend: a closed interval, room exactly when the
// oldest grant leaves it, a log that grows with the grants and stays exact.
#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Window);

TEST_P(Window, FullWindowHasRoomWhenTheFirstGrantLeavesIt) {
  // 3 per 0.3 s: the 4th waits until the first grant is more than a window old. Windows
  // include both ends: a grant at g leaves at g + W + 1 ns.
  use_test_time();
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = make(make_cfg(10, 3, 0.3));
  const int64_t t0 = now();
  for (int i = 0; i < 3; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  EXPECT_EQ(stats_of(lim).current_window_count, 3u);
  ptl_permit p = 0;
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lim, &p, &retry);
  if (refused_before(lim, rc, p, t0 + kWindow)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, kWindow + kMs);
    if (simulated()) {
      EXPECT_EQ(retry, kWindow + 1);
    }
  }
  // A blocking acquire is granted when the window frees (by a timer: nobody releases).
  Holder waiter(lim, 1, 5 * kSec);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_TRUE(ends_at(waiter, t0 + kWindow + 1)) << "granted inside the window";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST_P(Window, LargeWindowLogGrowsAndStaysExact) {
  // 2000 per 30 s: the log grows with the grants (shm://: from 16 entries to 2000),
  // keeping every entry.
  Lim lim = make(make_cfg(1, 2000, 30.0));
  for (int i = 0; i < 2000; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << i << ": " << ptl_last_error();
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  ptl_permit p = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &p, &retry), PTL_EAGAIN);
  EXPECT_GT(retry, 20 * kSec);
  EXPECT_EQ(stats_of(lim).current_window_count, 2000u);
}

}  // namespace
}  // namespace ptl_test
