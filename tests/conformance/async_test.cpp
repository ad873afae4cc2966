// SPDX-License-Identifier: MIT
// ptl_acquire_async and ptl_cancel on every backend: exactly-once callbacks, inline grants,
// hand-overs by a release of another registry, cancel, timeouts, one line with sync waiters.
#include "async_util.hpp"
#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Async);

// After a while, the request was still called back exactly once.
void expect_called_once(const Req& r) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 1) << "called back " << r.calls.load() << " times";
}

// A request queued behind the only permit ends without a grant, by ptl_cancel or by its
// timeout: its callback runs once with that status (for a cancel, before ptl_cancel
// returns), the ticket is then unknown, the line empty, the end counted, and the permit's
// release later grants it nothing.
void ends_without_a_grant(Conformance& test, ptl_limiter* lim, bool cancel) {
  const ptl_permit held = take(lim);
  auto* req = new Req;  // leaked if a check fails: a late callback must still find it
  Req& r = *req;
  uint64_t ticket = 0;
  const int64_t t0 = test.now();
  ASSERT_EQ(r.start(lim, 1, cancel ? -1 : 50 * kMs, &ticket), PTL_OK) << ptl_last_error();
  if (cancel) {
    ASSERT_TRUE(wait_waiting(lim, 1));
    ASSERT_EQ(r.calls.load(), 0);
    ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK) << ptl_last_error();
    EXPECT_EQ(r.calls.load(), 1) << "the callback had not run when ptl_cancel returned";
  } else {
    test.advance_to(t0 + 50 * kMs - 1);
    const int calls = r.calls.load();
    if (test.now() < t0 + 50 * kMs) {
      EXPECT_EQ(calls, 0) << "timed out early";
    }
    test.advance_to(t0 + 50 * kMs);  // simulated time: the timer runs on this thread
    ASSERT_TRUE(r.wait(10 * kSec)) << "an async timeout never fired";
    EXPECT_GE(r.t_cb.load(), t0 + 50 * kMs) << "timed out early";
    if (test.simulated()) {
      EXPECT_EQ(r.t_cb.load(), t0 + 50 * kMs) << "timed out late";
    }
  }
  EXPECT_EQ(r.status.load(), cancel ? PTL_ECANCELED : PTL_ETIMEDOUT);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(cancel ? s.total_cancelled : s.total_timeouts, 1u);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  expect_called_once(r);
  EXPECT_EQ(stats_of(lim).in_flight, 0u) << "the ended request was granted later";
  delete req;
}

TEST_P(Async, ImmediateGrantRunsInlineExactlyOnce) {
  for (uint64_t per_window : {uint64_t{0}, uint64_t{10}}) {
    Lim lim = make(make_cfg(2, per_window, 10.0));
    Req r;
    uint64_t ticket = 0;
    ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK) << ptl_last_error();
    EXPECT_EQ(r.calls.load(), 1) << "an immediate grant did not run inline";
    EXPECT_TRUE(r.ran_before_return.load());
    EXPECT_EQ(r.cb_thread, std::this_thread::get_id());
    EXPECT_EQ(r.status.load(), PTL_OK);
    EXPECT_NE(r.permit.load(), 0u);
    EXPECT_NE(ticket, 0u);
    EXPECT_EQ(stats_of(lim).in_flight, 1u);
    EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND) << "cancel of a completed ticket";
    EXPECT_EQ(r.calls.load(), 1);
    EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
    expect_called_once(r);
  }
}

TEST_P(Async, TimeoutZeroWithoutRoomReportsEagainThroughTheCallback) {
  // ADR 3: the call succeeds and the callback, the one place an outcome is reported, runs
  // once with PTL_EAGAIN.
  Lim lim = make(make_cfg(1));
  const ptl_permit held = take(lim);
  Req r;
  ASSERT_EQ(r.start(lim, 1, 0, nullptr), PTL_OK) << ptl_last_error();
  ASSERT_TRUE(r.wait());
  EXPECT_TRUE(r.ran_before_return.load());
  EXPECT_EQ(r.status.load(), PTL_EAGAIN);
  expect_called_once(r);
  EXPECT_EQ(stats_of(lim).waiting, 0u);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(Async, GrantedByAReleaseOfAnotherRegistryExactlyOnce) {
  Lim la = make(make_cfg(1), "handoff");
  Lim lb = get(peer(), "handoff");
  const ptl_permit held = take(la);
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lb, 1, 20 * kSec, &ticket), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(r.ran_before_return.load());
  ptl_limiter_stats s = stats_of(la);
  EXPECT_EQ(s.waiting, 1u);
  EXPECT_EQ(s.in_flight, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 0);
  ASSERT_EQ(ptl_release(la, held), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_NE(r.permit.load(), 0u);
  EXPECT_NE(r.permit.load(), held) << "a released permit value was reused at once";
  if (backend().callback_on_releaser) {
    EXPECT_EQ(r.cb_thread, std::this_thread::get_id()) << "not called by the releasing thread";
  } else {
    EXPECT_NE(r.cb_thread, std::this_thread::get_id()) << "not called by the library's thread";
  }
  s = stats_of(la);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(ptl_cancel(lb, ticket), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_release(lb, r.permit.load()), PTL_OK);
  expect_called_once(r);
}

TEST_P(Async, WindowBlockedGrantComesFromTheTimer) {
  use_test_time();
  constexpr int64_t kWindow = 150 * kMs;
  Lim lim = make(make_cfg(5, 1, 0.15));
  const int64_t t0 = now();
  ASSERT_EQ(ptl_release(lim, take(lim)), PTL_OK);
  auto* req = new Req;  // leaked if a check fails: a late callback must still find it
  Req& r = *req;
  ASSERT_EQ(r.start(lim, 1, -1, nullptr), PTL_OK);
  // The grant leaves the window at t0 + W + 1 ns (windows include both ends).
  advance_to(t0 + kWindow);
  const int calls = r.calls.load();
  if (now() < t0 + kWindow + 1) {
    EXPECT_EQ(calls, 0) << "granted inside the window";
  }
  advance_to(t0 + kWindow + 1);  // simulated time: the timer runs on this thread
  ASSERT_TRUE(r.wait(5 * kSec)) << "nobody granted an async waiter when the window slid";
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_GE(r.t_cb.load(), t0 + kWindow + 1) << "granted inside the window";
  if (simulated()) {
    EXPECT_EQ(r.t_cb.load(), t0 + kWindow + 1) << "granted late";
  }
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
  delete req;
}

TEST_P(Async, CancelRunsCallbackWithEcanceledBeforeReturning) {
  ends_without_a_grant(*this, make(make_cfg(1)), true);
}

TEST_P(Async, CancelUnknownTickets) {
  Lim lim = make(make_cfg(1));
  EXPECT_EQ(ptl_cancel(lim, 12345), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_cancel(lim, 12345678), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_cancel(lim, UINT64_MAX), PTL_ENOTFOUND);
  const int rc = ptl_cancel(lim, 0);
  EXPECT_TRUE(rc == PTL_ENOTFOUND || rc == PTL_EINVAL) << ptl_status_name(rc);
}

TEST_P(Async, CancelThroughAnotherLimiterDoesNothing) {
  Lim a = make(make_cfg(1));
  Lim b = make(make_cfg(1));
  const ptl_permit ha = take(a), hb = take(b);
  Req ra, rb;
  uint64_t ta = 0, tb = 0;
  ASSERT_EQ(ra.start(a, 1, -1, &ta), PTL_OK);
  ASSERT_EQ(rb.start(b, 1, -1, &tb), PTL_OK);
  EXPECT_EQ(ptl_cancel(b, ta), ta == tb ? PTL_OK : PTL_ENOTFOUND);
  if (ta != tb) {
    EXPECT_EQ(ra.calls.load(), 0) << "cancelled a waiter of another limiter";
    EXPECT_EQ(rb.calls.load(), 0);
    EXPECT_EQ(stats_of(a).waiting, 1u);
    EXPECT_EQ(stats_of(b).waiting, 1u);
  }
  ASSERT_EQ(ptl_cancel(a, ta), PTL_OK);
  ASSERT_EQ(ptl_cancel(b, tb), PTL_OK);
  EXPECT_EQ(ra.status.load(), PTL_ECANCELED);
  EXPECT_EQ(rb.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_release(a, ha), PTL_OK);
  EXPECT_EQ(ptl_release(b, hb), PTL_OK);
}

TEST_P(Async, TimeoutCompletesWithEtimedout) {
  use_test_time();
  ends_without_a_grant(*this, make(make_cfg(1)), false);
}

TEST_P(Async, CancelledAndTimedOutLeaveTheLineToTheOthersInOrder) {
  // One line: async, sync, (cancelled async), async; a timed-out one before them.
  use_test_time();
  Lim lim = make(make_cfg(1));
  const ptl_permit held = take(lim);
  Req timed;
  ASSERT_EQ(timed.start(lim, 1, 50 * kMs, nullptr), PTL_OK);
  advance(50 * kMs);
  ASSERT_TRUE(timed.wait());
  EXPECT_EQ(timed.status.load(), PTL_ETIMEDOUT);
  EXPECT_EQ(stats_of(lim).waiting, 0u);

  Req first, cancelled, last;
  uint64_t t_first = 0, t_cancel = 0, t_last = 0;
  ASSERT_EQ(first.start(lim, 1, -1, &t_first), PTL_OK);
  Holder sync_second(lim);
  ASSERT_TRUE(wait_waiting(lim, 2));
  ASSERT_EQ(cancelled.start(lim, 1, -1, &t_cancel), PTL_OK);
  ASSERT_EQ(last.start(lim, 1, -1, &t_last), PTL_OK);
  EXPECT_EQ(ptl_cancel(lim, t_cancel), PTL_OK);
  EXPECT_EQ(cancelled.calls.load(), 1);
  EXPECT_EQ(cancelled.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_cancel(lim, t_cancel), PTL_ENOTFOUND);
  EXPECT_EQ(stats_of(lim).waiting, 3u);

  ASSERT_EQ(ptl_release(lim, held), PTL_OK);  // -> first (async)
  ASSERT_TRUE(first.wait());
  EXPECT_FALSE(sync_second.done());
  ASSERT_EQ(ptl_release(lim, first.permit.load()), PTL_OK);  // -> the sync waiter
  ASSERT_TRUE(sync_second.wait_done());
  EXPECT_EQ(sync_second.rc(), PTL_OK);
  EXPECT_EQ(last.calls.load(), 0) << "the last async waiter passed the sync one";
  sync_second.finish();  // -> last
  ASSERT_TRUE(last.wait());
  EXPECT_EQ(last.status.load(), PTL_OK);
  EXPECT_EQ(ptl_release(lim, last.permit.load()), PTL_OK);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.total_timeouts, 1u);
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(s.in_flight, 0u);
}

}  // namespace
}  // namespace ptl_test
