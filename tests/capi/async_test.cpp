// ptl_acquire_async and ptl_cancel: exactly-once callbacks, inline grants, cancel, timeouts.
#include "async_util.hpp"
#include "capi_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiAsync, ImmediateGrantRunsInlineExactlyOnce) {
  for (uint64_t per_window : {uint64_t{0}, uint64_t{10}}) {
    Lim lim = create_limiter(make_cfg(2, per_window, 10.0));
    Req r;
    uint64_t ticket = 0;
    ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK) << ptl_last_error();
    EXPECT_EQ(r.calls.load(), 1) << "an immediate grant did not run inline";
    EXPECT_TRUE(r.ran_before_return.load());
    EXPECT_EQ(r.cb_thread, std::this_thread::get_id());
    EXPECT_EQ(r.status.load(), PTL_OK);
    EXPECT_NE(r.permit.load(), 0u);
    EXPECT_EQ(stats_of(lim).in_flight, 1u);
    EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND) << "cancel of a completed ticket";
    EXPECT_EQ(r.calls.load(), 1);
    EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(r.calls.load(), 1);
  }
}

TEST(CapiAsync, GrantedOnReleaseExactlyOnce) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
  EXPECT_EQ(r.calls.load(), 0);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 1u);
  EXPECT_EQ(s.in_flight, 1u);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_NE(r.permit.load(), 0u);
  EXPECT_NE(r.permit.load(), held) << "a released permit value was reused at once";
  s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(r.calls.load(), 1);
}

TEST(CapiAsync, WindowBlockedGrantComesFromTheTimer) {
  Lim lim = create_limiter(make_cfg(5, 1, 0.1));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Req r;
  ASSERT_EQ(r.start(lim, 1, -1, nullptr), PTL_OK);
  ASSERT_TRUE(r.wait(5 * kSec)) << "nobody granted an async waiter when the window slid";
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_GE(r.t_cb.load(), t0 + 100 * kMs) << "granted inside the window";
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
}

TEST(CapiAsync, CancelRunsCallbackWithEcanceledBeforeReturning) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
  ASSERT_EQ(r.calls.load(), 0);
  ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK);
  EXPECT_EQ(r.calls.load(), 1) << "the callback had not run when ptl_cancel returned";
  EXPECT_EQ(r.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_cancelled, 1u);
  // The cancelled request gets nothing later.
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiAsync, CancelUnknownTickets) {
  Lim lim = create_limiter(make_cfg(1));
  EXPECT_EQ(ptl_cancel(lim, 12345678), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_cancel(lim, UINT64_MAX), PTL_ENOTFOUND);
  int rc = ptl_cancel(lim, 0);
  EXPECT_TRUE(rc == PTL_ENOTFOUND || rc == PTL_EINVAL) << ptl_status_name(rc);
}

TEST(CapiAsync, CancelThroughAnotherLimiterDoesNothing) {
  Lim a = create_limiter(make_cfg(1));
  Lim b = create_limiter(make_cfg(1));
  ptl_permit ha = 0, hb = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &ha), PTL_OK);
  ASSERT_EQ(ptl_acquire(b, 0, &hb), PTL_OK);
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

TEST(CapiAsync, TimeoutCompletesWithEtimedout) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(r.start(lim, 1, 50 * kMs, &ticket), PTL_OK);
  ASSERT_TRUE(r.wait(10 * kSec)) << "an async timeout never fired";
  EXPECT_EQ(r.status.load(), PTL_ETIMEDOUT);
  EXPECT_GE(r.t_cb.load(), t0 + 50 * kMs) << "timed out early";
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.total_timeouts, 1u);
  EXPECT_EQ(s.waiting, 0u);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(stats_of(lim).in_flight, 0u) << "a timed-out async acquire was granted later";
}

TEST(CapiAsync, TimeoutZeroWithoutRoomReportsEagainOnce) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  int rc = r.start(lim, 1, 0, nullptr);
  if (rc == PTL_OK) {
    ASSERT_TRUE(r.wait());
    EXPECT_EQ(r.status.load(), PTL_EAGAIN);
  } else {
    EXPECT_EQ(rc, PTL_EAGAIN);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r.calls.load(), 0) << "callback ran although the call returned an error";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LE(r.calls.load(), 1);
  EXPECT_EQ(stats_of(lim).waiting, 0u);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

}  // namespace
}  // namespace ptl_test
