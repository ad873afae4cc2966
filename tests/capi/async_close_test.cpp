// SPDX-License-Identifier: MIT
// ptl_acquire_async on private limiters: completion with PTL_ECLOSED when the last
// reference goes (for registered limiters of every backend see tests/conformance).
#include <random>
#include <string>

#include "async_util.hpp"
#include "capi_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiAsync, LastUnrefCompletesPendingWithEclosed) {
  // Blocked by concurrency, infinite timeout.
  {
    ptl_limiter* lim = nullptr;
    ptl_limiter_config cfg = make_cfg(1);
    ASSERT_EQ(ptl_limiter_create(&cfg, &lim), PTL_OK);
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
    Req r1, r2;
    ASSERT_EQ(r1.start(lim, 1, -1, nullptr), PTL_OK);
    ASSERT_EQ(r2.start(lim, 1, -1, nullptr), PTL_OK);
    ptl_limiter_unref(lim);
    ASSERT_TRUE(r1.wait(5 * kSec)) << "pending async acquire not completed by the last unref";
    ASSERT_TRUE(r2.wait(5 * kSec));
    EXPECT_EQ(r1.status.load(), PTL_ECLOSED);
    EXPECT_EQ(r2.status.load(), PTL_ECLOSED);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r1.calls.load(), 1);
    EXPECT_EQ(r2.calls.load(), 1);
  }
}

TEST(CapiAsync, LastUnrefCompletesTimerBoundWaitersWithEclosed) {
  // Waiters that the library's timer is tracking (a finite timeout; a window or a
  // penalty to wait out) are completed with ECLOSED too, not left to time out later.
  struct Case {
    const char* what;
    ptl_limiter_config cfg;
    bool fill_window;
    int64_t penalty;
    int64_t timeout;
  };
  const Case cases[] = {
      {"finite timeout", make_cfg(1), false, 0, 2 * kSec},
      {"window", make_cfg(5, 1, 2.0), true, 0, -1},
      {"penalty", make_cfg(5), false, 2 * kSec, -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ptl_limiter* lim = nullptr;
    ASSERT_EQ(ptl_limiter_create(&c.cfg, &lim), PTL_OK);
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);  // held forever in the first case
    if (c.fill_window) {
      ASSERT_EQ(ptl_release(lim, held), PTL_OK);
    }
    if (c.penalty) {
      ASSERT_EQ(ptl_release(lim, held), PTL_OK);
      ASSERT_EQ(ptl_limiter_penalize(lim, c.penalty), PTL_OK);
    }
    // On the heap: if the library calls back late, the request must still exist.
    Req* r = new Req;
    ASSERT_EQ(r->start(lim, 1, c.timeout, nullptr), PTL_OK);
    EXPECT_EQ(r->calls.load(), 0);
    ptl_limiter_unref(lim);
    const bool completed = r->wait(1500 * kMs);
    EXPECT_TRUE(completed) << "pending async acquire not completed (within 1.5 s) after the "
                              "last unref";
    if (completed) {
      EXPECT_EQ(r->status.load(), PTL_ECLOSED) << ptl_status_name(r->status.load());
    } else if (r->wait(5 * kSec)) {
      ADD_FAILURE() << "it completed later, with " << ptl_status_name(r->status.load());
    }
    if (r->calls.load() > 0) delete r;  // else leaked on purpose: a late callback finds it
  }
}

TEST(CapiAsync, UnrefRacingWithATimerGrantCompletesExactlyOnce) {
  // The window frees at ~2 ms while the last reference is dropped at a random moment
  // around it: the waiter completes exactly once, with OK or ECLOSED.
  std::mt19937 rng(7);
  int ok = 0, closed = 0;
  for (int round = 0; round < 150; ++round) {
    ptl_limiter* lim = nullptr;
    ptl_limiter_config cfg = make_cfg(5, 1, 0.002);
    ASSERT_EQ(ptl_limiter_create(&cfg, &lim), PTL_OK);
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
    Req* r = new Req;
    ASSERT_EQ(r->start(lim, 1, (round % 2) ? -1 : 50 * kMs, nullptr), PTL_OK);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4000));
    ptl_limiter_unref(lim);
    ASSERT_TRUE(r->wait(5 * kSec)) << "round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(r->calls.load(), 1) << "round " << round;
    const int st = r->status.load();
    ASSERT_TRUE(st == PTL_OK || st == PTL_ECLOSED) << ptl_status_name(st);
    (st == PTL_OK ? ok : closed)++;
    delete r;
  }
  EXPECT_EQ(ok + closed, 150);
}

}  // namespace
}  // namespace ptl_test
