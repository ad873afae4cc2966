// SPDX-License-Identifier: MIT
// acquire and try_acquire on every backend: permits, timeouts, retry_after, sharing between
// registries, and the queue that try_acquire must not jump.
#include <climits>
#include <vector>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Acquire);
PTL_CONFORMANCE_SUITE(TryAcquire);

TEST_P(Acquire, PermitsAreNonZeroDistinctAndOfTheBackend) {
  Lim lim = make(make_cfg(64));
  std::vector<ptl_permit> ps(64);
  for (auto& p : ps) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
    EXPECT_NE(p, 0u);
    EXPECT_TRUE(backend().own_permit(p)) << std::hex << p;
  }
  std::vector<ptl_permit> sorted = ps;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(stats_of(lim).in_flight, 64u);
  ptl_permit extra = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &extra, nullptr), PTL_EAGAIN);
  for (auto p : ps) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 64u);
  EXPECT_EQ(s.total_rejected, 1u);
}

TEST_P(Acquire, TimeoutZeroIsEagainPositiveIsEtimedout) {
  // Blocked by concurrency, with and without a window: refusals leave no trace (no permit,
  // no place in line, no window entry). A positive timeout ends the wait at its deadline.
  use_test_time();
  for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
    SCOPED_TRACE(per_window);
    Lim lim = make(make_cfg(1, per_window, 60.0));
    ptl_permit p = 0, q = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN);
    EXPECT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_EAGAIN);
    for (const int64_t timeout : {int64_t{1}, 30 * kMs}) {
      SCOPED_TRACE(timeout);
      const int64_t t0 = now();
      Holder timed(lim, [&](ptl_permit* out) { return ptl_acquire(lim, timeout, out); });
      if (simulated()) {  // on real time 1 ns may be over
        ASSERT_TRUE(wait_waiting(lim, 1));
      }
      ASSERT_TRUE(ends_at(timed, t0 + timeout)) << "timed out early or late";
      EXPECT_EQ(timed.rc(), PTL_ETIMEDOUT);
    }
    const ptl_limiter_stats s = stats_of(lim);
    EXPECT_EQ(s.in_flight, 1u);
    EXPECT_EQ(s.waiting, 0u);
    EXPECT_EQ(s.current_window_count, per_window ? 1u : 0u) << "a refusal took a window entry";
    // Each refusal counted once; the two positive timeouts as timeouts.
    EXPECT_EQ(s.total_rejected + s.total_timeouts, 4u);
    EXPECT_GE(s.total_timeouts, 2u);
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
    EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  }
}

// real time on purpose: on local: too, "forever" is a wait on the steady clock's condition
// variable without a deadline, a path the ManualClock does not take.
TEST_P(Acquire, HugeAndNegativeTimeoutsWaitForever) {
  // INT64_MAX must not overflow a deadline into the past; any negative value is forever.
  for (int64_t timeout : {INT64_MAX, INT64_MAX - 1, int64_t{-1}, int64_t{-12345}, INT64_MIN})
    for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
      SCOPED_TRACE(timeout);
      SCOPED_TRACE(per_window);
      Lim lim = make(make_cfg(1, per_window, 10.0));
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

TEST_P(Acquire, ConcurrencyLimitIsSharedBetweenRegistries) {
  Lim la = make(make_cfg(2), "conc");
  EXPECT_EQ(ptl_registry_exists(peer(), "conc"), 1);
  Lim lb = get(peer(), "conc");
  ptl_permit p1 = 0, p2 = 0, p3 = 0;
  ASSERT_EQ(ptl_acquire(la, -1, &p1), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_acquire(lb, -1, &p2), PTL_OK) << ptl_last_error();
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lb, &p3, &retry), PTL_EAGAIN);
  EXPECT_EQ(retry, -1) << "only a release can free a permit";
  EXPECT_EQ(ptl_acquire(la, 0, &p3), PTL_EAGAIN);
  EXPECT_EQ(stats_of(la).in_flight, 2u);
  ASSERT_EQ(ptl_release(la, p1), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_try_acquire(lb, &p3, nullptr), PTL_OK) << ptl_last_error();
  if (backend().release_anywhere) {
    EXPECT_EQ(ptl_release(la, p2), PTL_OK) << "any handle of the limiter releases its permits";
  } else {
    EXPECT_EQ(ptl_release(la, p2), PTL_EINVAL) << "released a permit of another registry";
    EXPECT_EQ(stats_of(la).in_flight, 2u);
    EXPECT_EQ(ptl_release(lb, p2), PTL_OK);
  }
  EXPECT_EQ(ptl_release(lb, p3), PTL_OK);
  EXPECT_EQ(stats_of(la).in_flight, 0u);
  EXPECT_EQ(stats_of(lb).total_acquired, 3u);
}

TEST_P(Acquire, ReleaseWakesAWaiterOfAnotherRegistry) {
  Lim la = make(make_cfg(1), "wake");
  Lim lb = get(peer(), "wake");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(la, -1, &held), PTL_OK);
  std::atomic<int64_t> granted_at{0};
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    ptl_permit p = 0;
    rc = ptl_acquire(lb, 60 * kSec, &p);
    granted_at = mono_ns();
    if (rc == PTL_OK) {
      EXPECT_EQ(ptl_release(lb, p), PTL_OK);
    }
  });
  ASSERT_TRUE(wait_waiting(la, 1));
  sleep_ns(50 * kMs);
  EXPECT_EQ(granted_at.load(), 0) << "granted while the permit was held";
  const int64_t released = mono_ns();
  ASSERT_EQ(ptl_release(la, held), PTL_OK);
  waiter.join();
  EXPECT_EQ(rc.load(), PTL_OK) << ptl_status_name(rc.load());
  // Woken by the release, not by a poll or its timeout: far inside the 60 s it may wait.
  EXPECT_LT(granted_at.load() - released, 10 * kSec);
}

TEST_P(TryAcquire, RetryAfterIsMinusOneWhenOnlyConcurrencyIsExhausted) {
  for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
    Lim lim = make(make_cfg(1, per_window, 10.0));
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

TEST_P(TryAcquire, RetryAfterIsTheTimeUntilTheWindowAllows) {
  use_test_time();
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = make(make_cfg(10, 2, 0.3));
  const int64_t a0 = now();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  const int64_t a1 = now();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);

  int64_t retry = 0;
  const int64_t c0 = now();
  ASSERT_EQ(ptl_try_acquire(lim, &p, &retry), PTL_EAGAIN);
  const int64_t c1 = now();
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, kWindow + 1);
  // The first grant g lies in [a0, a1] and leaves the window at g + W + 1 ns (windows
  // include both ends); the call ran in [c0, c1]: the exact answer lies in
  // [a0 + W + 1 - c1, a1 + W + 1 - c0] (1 ms for rounding on real time).
  const int64_t rounding = simulated() ? 0 : kMs;
  EXPECT_GE(retry, a0 + kWindow + 1 - c1 - rounding) << "too short: a retry would fail";
  EXPECT_LE(retry, a1 + kWindow + 1 - c0 + rounding) << "retry_after too long";

  // Still full a little before that time, and 1 ns before it ...
  if (retry > 40 * kMs) {
    advance_to(c1 + retry - 30 * kMs);
    const int rc = ptl_try_acquire(lim, &p, nullptr);
    refused_before(lim, rc, p, a0 + kWindow + 1);  // the first grant is still in the window
  }
  advance_to(c1 + retry - 1);
  int rc = ptl_try_acquire(lim, &p, nullptr);
  refused_before(lim, rc, p, a0 + kWindow + 1);  // real time: checked if the call was early
  // ... and room at that time.
  advance_to(c1 + retry);
  int64_t retry2 = 0;
  rc = ptl_try_acquire(lim, &p, &retry2);
  EXPECT_EQ(rc, PTL_OK) << "no room " << retry << " ns after; now retry_after " << retry2;
  if (rc == PTL_OK) {
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  }
}

TEST_P(TryAcquire, RetryAfterForCost) {
  use_test_time();
  Lim lim = make(make_cfg(10, 0, 0.3, 10));
  ptl_permit p = 0;
  const int64_t t0 = now();
  ASSERT_EQ(ptl_acquire_cost(lim, 9, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  // Plain acquires cost 1: one fits, the next does not.
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lim, &p, &retry);
  if (refused_before(lim, rc, p, t0 + 300 * kMs)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, 300 * kMs + 1);
    if (simulated()) {
      EXPECT_EQ(retry, 300 * kMs + 1) << "the cost-9 grant leaves then";
    }
  }
}

TEST_P(TryAcquire, HandsFreedPermitToTheQueuedWaiterNotToTryAcquire) {
  Lim lim = make(make_cfg(1));
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

TEST_P(TryAcquire, DoesNotJumpAQueuedCostlyWaiter) {
  // 10 units per 0.4 s. 8 units taken; a waiter wants 5 (must wait for the window);
  // a cost-1 request would fit now but must not pass the queued waiter.
  use_test_time();
  constexpr int64_t kWindow = 400 * kMs;
  Lim lim = make(make_cfg(10, 0, 0.4, 10));
  const int64_t t8 = now();
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
  {
    const int64_t t1 = now();
    Holder timed(lim, 1, 20 * kMs);
    if (simulated()) {
      ASSERT_TRUE(wait_waiting(lim, 2));
      ASSERT_TRUE(ends_at(timed, t1 + 20 * kMs));
    }
    ASSERT_TRUE(timed.wait_done());
    if (timed.t_after() < t8 + kWindow) {
      EXPECT_EQ(timed.rc(), PTL_ETIMEDOUT) << "a waiter with a timeout passed the big one";
    }
  }
  Holder small(lim, 1);
  ASSERT_TRUE(wait_until([&] { return stats_of(lim).waiting == 2 || small.done(); }));
  // Neither can be granted before the 8 units leave the window, at t8 + W + 1 ns.
  ASSERT_TRUE(ends_at(big, t8 + kWindow + 1));
  ASSERT_TRUE(small.wait_done());
  EXPECT_EQ(big.rc(), PTL_OK);
  EXPECT_EQ(small.rc(), PTL_OK);
  EXPECT_GE(small.t_after(), t8 + kWindow + 1) << "the small waiter passed the big one";
}

}  // namespace
}  // namespace ptl_test
