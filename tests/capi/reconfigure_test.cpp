// ptl_reconfigure through the C ABI: live limit changes, window history, mode switches.
#include "capi_util.hpp"
#include "limiter_util.hpp"

namespace ptl_test {
namespace {

// ---- reconfigure -----------------------------------------------------------------------

TEST(CapiReconfigure, LoweringBelowInFlightHoldsNewAcquires) {
  Lim lim = create_limiter(make_cfg(4));
  ptl_permit p[4];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  ptl_limiter_config c2 = make_cfg(2);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c2), PTL_OK);
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

TEST(CapiReconfigure, RaisingWakesWaitersAtOnce) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Holder w1(lim), w2(lim);
  ASSERT_TRUE(wait_waiting(lim, 2));
  ptl_limiter_config c3 = make_cfg(3);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c3), PTL_OK);
  ASSERT_TRUE(w1.wait_done(5 * kSec)) << "raising max_concurrent did not wake the waiters";
  ASSERT_TRUE(w2.wait_done(5 * kSec));
  EXPECT_EQ(w1.rc(), PTL_OK);
  EXPECT_EQ(w2.rc(), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  w1.finish();
  w2.finish();
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
}

TEST(CapiReconfigure, RemovingTheWindowWakesAWindowBlockedWaiter) {
  Lim lim = create_limiter(make_cfg(5, 1, 30.0));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ptl_limiter_config nowin = make_cfg(5, 0, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &nowin), PTL_OK);
  ASSERT_TRUE(waiter.wait_done(5 * kSec)) << "still waiting on a window that was removed";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST(CapiReconfigure, KeepsWindowHistory) {
  Lim lim = create_limiter(make_cfg(10, 2, 30.0));
  ptl_permit p = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  ptl_limiter_config c3 = make_cfg(10, 3, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c3), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_count, 2u);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN) << "history lost on reconfigure";
  ptl_limiter_config c1 = make_cfg(10, 1, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c1), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN);
  // A shorter window ages the same history out sooner.
  ptl_limiter_config shortw = make_cfg(10, 3, 0.1);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &shortw), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN) << "history lost on window change";
  ASSERT_EQ(ptl_acquire(lim, 5 * kSec, &p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(CapiReconfigure, FastPermitsSurviveModeSwitches) {
  // Permits taken on a concurrency-only limiter stay counted and releasable after a
  // window is added, and after it is removed again.
  Lim lim = create_limiter(make_cfg(3));
  ptl_permit p[3];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  ptl_limiter_config win = make_cfg(3, 100, 1.0, 1000);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &win), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  ptl_permit q = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_EAGAIN);
  ASSERT_EQ(ptl_release(lim, p[0]), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  ptl_limiter_config plain = make_cfg(3);
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

}  // namespace
}  // namespace ptl_test
