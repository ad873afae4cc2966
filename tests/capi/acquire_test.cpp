// acquire and try_acquire through the C ABI: permits, timeouts, retry_after, queue order;
// limiter handles.
#include <climits>
#include <vector>

#include "capi_util.hpp"
#include "limiter_util.hpp"

namespace ptl_test {
namespace {

// ---- acquire / try_acquire -------------------------------------------------------------

TEST(CapiAcquire, PermitsAreNonZeroAndDistinct) {
  Lim lim = create_limiter(make_cfg(64));
  std::vector<ptl_permit> ps(64);
  for (auto& p : ps) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    EXPECT_NE(p, 0u);
  }
  std::vector<ptl_permit> sorted = ps;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(stats_of(lim).in_flight, 64u);
  for (auto p : ps) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiAcquire, TimeoutZeroIsEagainPositiveIsEtimedout) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN);
  EXPECT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_EAGAIN);
  EXPECT_EQ(ptl_acquire(lim, 1, &q), PTL_ETIMEDOUT);
  const int64_t t0 = mono_ns();
  EXPECT_EQ(ptl_acquire(lim, 30 * kMs, &q), PTL_ETIMEDOUT);
  EXPECT_GE(mono_ns() - t0, 30 * kMs) << "timed out early";
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(CapiAcquire, HugeAndNegativeTimeoutsWaitForever) {
  // INT64_MAX must not overflow a deadline into the past; any negative value is forever.
  for (int64_t timeout : {INT64_MAX, INT64_MAX - 1, int64_t{-1}, int64_t{-12345}, INT64_MIN})
    for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
      SCOPED_TRACE(timeout);
      SCOPED_TRACE(per_window);
      Lim lim = create_limiter(make_cfg(1, per_window, 10.0));
      ptl_permit p = 0, q = 0;
      ASSERT_EQ(ptl_acquire(lim, timeout, &p), PTL_OK);  // free: immediate
      std::atomic<int> rc{1};
      std::thread t([&] { rc = ptl_acquire(lim, timeout, &q); });
      ASSERT_TRUE(wait_waiting(lim, 1)) << "the waiter did not queue: rc " << rc.load();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_EQ(rc.load(), 1) << "returned without a release";
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
      t.join();
      EXPECT_EQ(rc.load(), PTL_OK);
      EXPECT_EQ(ptl_release(lim, q), PTL_OK);
    }
}

TEST(CapiTryAcquire, RetryAfterIsMinusOneWhenOnlyConcurrencyIsExhausted) {
  for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
    Lim lim = create_limiter(make_cfg(1, per_window, 10.0));
    ptl_permit p = 0, q = 0;
    ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
    int64_t retry = 12345;
    EXPECT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_EAGAIN);
    EXPECT_EQ(retry, -1) << "per_window " << per_window;
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    retry = 12345;
    ASSERT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_OK);
    EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  }
}

TEST(CapiTryAcquire, RetryAfterIsTheTimeUntilTheWindowAllows) {
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = create_limiter(make_cfg(10, 2, 0.3));
  const int64_t a0 = mono_ns();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  const int64_t a1 = mono_ns();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);

  int64_t retry = 0;
  const int64_t c0 = mono_ns();
  ASSERT_EQ(ptl_try_acquire(lim, &p, &retry), PTL_EAGAIN);
  const int64_t c1 = mono_ns();
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, kWindow);
  // The first grant g lies in [a0, a1] and leaves the window at g + W; the call ran in
  // [c0, c1]: the exact answer lies in [a0 + W - c1, a1 + W - c0] (1 ms for rounding).
  EXPECT_GE(retry, a0 + kWindow - c1 - kMs) << "retry_after too short: a retry would fail";
  EXPECT_LE(retry, a1 + kWindow - c0 + kMs) << "retry_after too long";

  // Still full a little before that time ...
  if (retry > 40 * kMs) {
    sleep_ns(retry - 30 * kMs - (mono_ns() - c1));
    const int rc = ptl_try_acquire(lim, &p, nullptr);
    refused_before(lim, rc, p, a0 + kWindow);  // the first grant is still in the window
  }
  // ... and room at that time.
  sleep_ns(c1 + retry - mono_ns() + 1);
  int64_t retry2 = 0;
  int rc = ptl_try_acquire(lim, &p, &retry2);
  EXPECT_EQ(rc, PTL_OK) << "no room " << retry << " ns after; now retry_after " << retry2;
  if (rc == PTL_OK) {
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  }
}

TEST(CapiTryAcquire, RetryAfterForCost) {
  Lim lim = create_limiter(make_cfg(10, 0, 0.3, 10));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire_cost(lim, 9, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  // Plain acquires cost 1: one fits, the next does not.
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lim, &p, &retry);
  if (refused_before(lim, rc, p, t0 + 300 * kMs)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, 300 * kMs);
  }
}

TEST(CapiTryAcquire, HandsFreedPermitToTheQueuedWaiterNotToTryAcquire) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  // The freed permit belongs to the queued waiter, whether or not it has woken yet.
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_EAGAIN) << "try_acquire jumped the queue";
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN) << "acquire(0) jumped the queue";
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  waiter.finish();
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(CapiTryAcquire, DoesNotJumpAQueuedCostlyWaiter) {
  // 10 units per 0.4 s. 8 units taken; a waiter wants 5 (must wait for the window);
  // a cost-1 request would fit now but must not pass the queued waiter.
  constexpr int64_t kWindow = 400 * kMs;
  Lim lim = create_limiter(make_cfg(10, 0, 0.4, 10));
  const int64_t t8 = mono_ns();
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 8, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder big(lim, 5);
  ASSERT_TRUE(wait_waiting(lim, 1));
  // Each of these would fit (8 + 1 <= 10) but the cost-5 waiter is ahead.
  int rc = ptl_try_acquire(lim, &q, nullptr);
  refused_before(lim, rc, q, t8 + kWindow);
  rc = ptl_acquire(lim, 0, &q);
  refused_before(lim, rc, q, t8 + kWindow);
  rc = ptl_acquire_cost(lim, 1, 0, &q);
  refused_before(lim, rc, q, t8 + kWindow);
  rc = ptl_acquire_cost(lim, 1, 20 * kMs, &q);
  refused_before(lim, rc, q, t8 + kWindow, PTL_ETIMEDOUT);
  Holder small(lim, 1);
  ASSERT_TRUE(wait_until([&] { return stats_of(lim).waiting == 2 || small.done(); }));
  ASSERT_TRUE(big.wait_done());
  ASSERT_TRUE(small.wait_done());
  EXPECT_EQ(big.rc(), PTL_OK);
  EXPECT_EQ(small.rc(), PTL_OK);
  // Neither could be granted before the 8 units left the window.
  EXPECT_GE(big.t_after(), t8 + kWindow);
  EXPECT_GE(small.t_after(), t8 + kWindow) << "the small waiter passed the big one";
}
// ---- limiter handles ----------------------------------------------------------------

TEST(CapiLimiter, RefAndUnref) {
  ptl_limiter* raw = nullptr;
  ptl_limiter_config cfg = make_cfg(1);
  ASSERT_EQ(ptl_limiter_create(&cfg, &raw), PTL_OK);
  ptl_limiter_ref(raw);
  ptl_limiter_ref(raw);
  ptl_limiter_unref(raw);
  ptl_limiter_unref(raw);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(raw, 0, &p), PTL_OK) << "freed before the last unref";
  EXPECT_EQ(ptl_release(raw, p), PTL_OK);
  ptl_limiter_unref(raw);  // the last one: ASan reports a leak otherwise
}

TEST(CapiLimiter, CreatedLimitersArePrivate) {
  Lim a = create_limiter(make_cfg(1));
  Lim b = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire(b, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(a, p), PTL_OK);
  EXPECT_EQ(ptl_release(b, q), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
