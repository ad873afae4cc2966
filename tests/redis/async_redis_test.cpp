// Asynchronous acquires on redis://: immediate grants, grants handed over by another
// registry's release, cancel, timeouts, and the last reference closing pending ones.
#include <thread>

#include "../capi/async_util.hpp"
#include "redis_util.hpp"

namespace ptl_test {
namespace {

TEST(RedisAsync, ImmediateGrantRunsInline) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "async-now", make_cfg(1));
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK) << ptl_last_error();
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_TRUE(r.ran_before_return.load());
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
}

TEST(RedisAsync, TryOnceReportsAgainThroughTheCallback) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "async-try", make_cfg(1));
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(lim, -1, &held), PTL_OK);
  Req r;
  ASSERT_EQ(r.start(lim, 1, 0, nullptr), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
}

TEST(RedisAsync, GrantedByAnotherRegistrysRelease) {
  RedisReg a, b;
  Lim la = redis_limiter(a, "async-handoff", make_cfg(1));
  Lim lb;
  ASSERT_EQ(ptl_registry_get(b, "async-handoff", lb.out()), PTL_OK);
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(la, -1, &held), PTL_OK);
  Req r;
  ASSERT_EQ(r.start(lb, 1, 10 * kSec, nullptr), PTL_OK) << ptl_last_error();
  EXPECT_FALSE(r.ran_before_return.load());
  sleep_ns(30 * kMs);
  EXPECT_EQ(r.calls.load(), 0);
  ASSERT_EQ(ptl_release(la, held), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_NE(r.cb_thread, std::this_thread::get_id());
  EXPECT_EQ(stats_of(la).in_flight, 1u);
  EXPECT_EQ(ptl_release(lb, r.permit.load()), PTL_OK);
  EXPECT_EQ(r.calls.load(), 1);
}

TEST(RedisAsync, CancelRunsTheCallbackBeforeReturning) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "async-cancel", make_cfg(1));
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(lim, -1, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK) << ptl_last_error();
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(r.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u) << "the cancelled acquire was granted after all";
}

TEST(RedisAsync, TimeoutCompletesWithTimedOut) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "async-timeout", make_cfg(1));
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(lim, -1, &held), PTL_OK);
  Req r;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(r.start(lim, 1, 100 * kMs, nullptr), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_ETIMEDOUT);
  EXPECT_GE(r.t_cb.load() - t0, 100 * kMs);
  EXPECT_EQ(stats_of(lim).waiting, 0u);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
}

TEST(RedisAsync, LastReferenceClosesPendingAcquires) {
  RedisReg a;
  Lim la = redis_limiter(a, "async-close", make_cfg(1));
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(la, -1, &held), PTL_OK);
  Req r;
  {
    RedisReg b;
    Lim lb;  // dropped first, then b's own reference when b closes: the last one
    ASSERT_EQ(ptl_registry_get(b, "async-close", lb.out()), PTL_OK);
    ASSERT_EQ(r.start(lb, 1, -1, nullptr), PTL_OK);
    ASSERT_TRUE(wait_waiting(la, 1));
  }
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_ECLOSED);
  EXPECT_EQ(stats_of(la).waiting, 0u) << "the closed waiter stayed in the server's line";
  EXPECT_EQ(ptl_release(la, held), PTL_OK);
}

TEST(RedisAsync, ManyConcurrentWaitersAllGetOnePermitEach) {
  RedisReg a, b;
  Lim la = redis_limiter(a, "async-many", make_cfg(2));
  Lim lb;
  ASSERT_EQ(ptl_registry_get(b, "async-many", lb.out()), PTL_OK);
  constexpr int kN = 40;
  std::vector<Req> reqs(kN);
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(reqs[i].start(i % 2 ? la : lb, 1, 20 * kSec, nullptr), PTL_OK) << ptl_last_error();
  }
  // Release each permit as it arrives, from this thread, until all were served.
  int served = 0;
  std::vector<bool> done(kN, false);
  const int64_t end = mono_ns() + 30 * kSec;
  while (served < kN && mono_ns() < end) {
    for (int i = 0; i < kN; ++i) {
      if (done[i] || reqs[i].calls.load() == 0) continue;
      ASSERT_EQ(reqs[i].status.load(), PTL_OK);
      EXPECT_LE(stats_of(la).in_flight, 2u);
      ASSERT_EQ(ptl_release(i % 2 ? la : lb, reqs[i].permit.load()), PTL_OK);
      done[i] = true;
      ++served;
    }
    sleep_ns(kMs);
  }
  EXPECT_EQ(served, kN);
  for (const Req& r : reqs) EXPECT_EQ(r.calls.load(), 1);
}

}  // namespace
}  // namespace ptl_test
