// The C ABI essentials on redis://: acquire, release, windows, costs, timeouts, order,
// penalties and reconfiguration, with two registries standing in for two processes.
#include <thread>
#include <vector>

#include "redis_util.hpp"

namespace ptl_test {
namespace {

TEST(RedisAcquire, ConcurrencyLimitIsSharedBetweenRegistries) {
  RedisReg a, b;
  Lim la = redis_limiter(a, "conc", make_cfg(2));
  Lim lb;
  ASSERT_EQ(ptl_registry_get(b, "conc", lb.out()), PTL_OK) << ptl_last_error();
  ptl_permit p1, p2, p3;
  ASSERT_EQ(ptl_acquire(la, -1, &p1), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_acquire(lb, -1, &p2), PTL_OK) << ptl_last_error();
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lb, &p3, &retry), PTL_EAGAIN);
  EXPECT_EQ(retry, -1) << "only a release can free a permit";
  EXPECT_EQ(ptl_acquire(la, 0, &p3), PTL_EAGAIN);
  EXPECT_EQ(stats_of(la).in_flight, 2u);
  ASSERT_EQ(ptl_release(la, p1), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_try_acquire(lb, &p3, nullptr), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(lb, p2), PTL_OK);
  EXPECT_EQ(ptl_release(lb, p3), PTL_OK);
  EXPECT_EQ(stats_of(la).in_flight, 0u);
  EXPECT_EQ(stats_of(lb).total_acquired, 3u);
}

TEST(RedisAcquire, BadReleasesAreRejectedAndChangeNothing) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "bad-release", make_cfg(1));
  Lim other = redis_limiter(reg, "bad-release-2", make_cfg(1));
  Lim local = create_limiter(make_cfg(1));
  ptl_permit p, q, lp;
  ASSERT_EQ(ptl_acquire(lim, -1, &p), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_acquire(other, -1, &q), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_acquire(local, -1, &lp), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_EINVAL) << "another redis limiter's permit";
  EXPECT_EQ(ptl_release(lim, lp), PTL_EINVAL) << "a local limiter's permit";
  EXPECT_EQ(ptl_release(local, p), PTL_EINVAL) << "a redis permit on a local limiter";
  EXPECT_EQ(ptl_release(lim, 0), PTL_EINVAL);
  EXPECT_EQ(stats_of(lim).in_flight, 1u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL) << "double release";
  EXPECT_TRUE(last_error_mentions("not held"));
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
  EXPECT_EQ(ptl_release(other, q), PTL_OK);
  EXPECT_EQ(ptl_release(local, lp), PTL_OK);
}

TEST(RedisAcquire, ReleaseWakesAWaiterOfAnotherRegistryPromptly) {
  RedisReg a, b;
  Lim la = redis_limiter(a, "wake", make_cfg(1));
  Lim lb;
  ASSERT_EQ(ptl_registry_get(b, "wake", lb.out()), PTL_OK);
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(la, -1, &held), PTL_OK);
  std::atomic<int64_t> granted_at{0};
  std::thread waiter([&] {
    ptl_permit p;
    ASSERT_EQ(ptl_acquire(lb, 10 * kSec, &p), PTL_OK) << ptl_last_error();
    granted_at = mono_ns();
    EXPECT_EQ(ptl_release(lb, p), PTL_OK);
  });
  ASSERT_TRUE(wait_waiting(la, 1));
  sleep_ns(50 * kMs);
  EXPECT_EQ(granted_at.load(), 0) << "granted while the permit was held";
  const int64_t released = mono_ns();
  ASSERT_EQ(ptl_release(la, held), PTL_OK);
  waiter.join();
  // A notification, not a poll: well under the 10 s timeout; 500 ms allows sanitizers
  // on a loaded machine.
  EXPECT_LT(granted_at.load() - released, 500 * kMs);
}

TEST(RedisWindow, StrictWindowAndRetryAfter) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "window", make_cfg(10, 3, 1.0));
  ptl_permit p;
  const int64_t t0 = mono_ns();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lim, &p, &retry);
  if (refused_before(lim, rc, p, t0 + kSec)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, kSec + kMs);
  }
  EXPECT_EQ(stats_of(lim).current_window_count, 3u);
  // A blocking acquire is granted when the window frees: by a timer, not a poll.
  ASSERT_EQ(ptl_acquire(lim, 5 * kSec, &p), PTL_OK) << ptl_last_error();
  const int64_t waited = mono_ns() - t0;
  EXPECT_GE(waited, kSec - 50 * kMs) << "the 4th grant came inside the window";
  EXPECT_LT(waited, kSec + 500 * kMs);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(RedisWindow, CostLimitAndReleaseCorrection) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "cost", make_cfg(10, 0, 60.0, 10));
  ptl_permit a, b;
  ASSERT_EQ(ptl_acquire_cost(lim, 6, 0, &a), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_acquire_cost(lim, 5, 0, &b), PTL_EAGAIN);
  EXPECT_EQ(ptl_acquire_cost(lim, 11, 0, &b), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("max_cost_per_window"));
  EXPECT_EQ(stats_of(lim).current_window_cost, 6u);
  ASSERT_EQ(ptl_release_cost(lim, a, 2), PTL_OK);  // it really cost 2
  EXPECT_EQ(stats_of(lim).current_window_cost, 2u);
  ASSERT_EQ(ptl_acquire_cost(lim, 8, 0, &b), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_acquire(lim, 0, &a), PTL_EAGAIN) << "the window holds 10 of 10";
  EXPECT_EQ(ptl_release(lim, b), PTL_OK);
}

TEST(RedisAcquire, TimeoutLeavesNoTrace) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "timeout", make_cfg(1, 100, 60.0));
  ptl_permit held, p;
  ASSERT_EQ(ptl_acquire(lim, -1, &held), PTL_OK);
  const int64_t t0 = mono_ns();
  EXPECT_EQ(ptl_acquire(lim, 100 * kMs, &p), PTL_ETIMEDOUT);
  const int64_t took = mono_ns() - t0;
  EXPECT_GE(took, 100 * kMs);
  EXPECT_LT(took, kSec);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.total_timeouts, 1u);
  EXPECT_EQ(s.current_window_count, 1u) << "a timed-out acquire took a window entry";
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
}

TEST(RedisOrder, WaitersOfSeveralRegistriesAreServedInTicketOrder) {
  RedisReg a, b, c;
  Lim la = redis_limiter(a, "fifo", make_cfg(1));
  Lim lb, lc;
  ASSERT_EQ(ptl_registry_get(b, "fifo", lb.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get(c, "fifo", lc.out()), PTL_OK);
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(la, -1, &held), PTL_OK);
  ptl_limiter* handles[] = {lb, lc, lb, lc, la};
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&, i] {
      ptl_permit p;
      ASSERT_EQ(ptl_acquire(handles[i], 10 * kSec, &p), PTL_OK) << ptl_last_error();
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      sleep_ns(5 * kMs);
      EXPECT_EQ(ptl_release(handles[i], p), PTL_OK);
    });
    ASSERT_TRUE(wait_waiting(la, static_cast<uint32_t>(i + 1)));  // arrival order is i
  }
  // try-acquire does not jump the line, even with a permit free at the moment.
  ASSERT_EQ(ptl_release(la, held), PTL_OK);
  ptl_permit p;
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lc, &p, &retry);
  if (rc == PTL_OK) {
    EXPECT_EQ(ptl_release(lc, p), PTL_OK);
    ADD_FAILURE() << "try-acquire was granted while four waited";
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(RedisPenalty, PausesEverySharer) {
  RedisReg a, b;
  Lim la = redis_limiter(a, "penalty", make_cfg(5));
  Lim lb;
  ASSERT_EQ(ptl_registry_get(b, "penalty", lb.out()), PTL_OK);
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(la, 300 * kMs), PTL_OK) << ptl_last_error();
  ptl_permit p;
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lb, &p, &retry);
  if (refused_before(lb, rc, p, t0 + 300 * kMs)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, 300 * kMs);
  }
  ASSERT_EQ(ptl_acquire(lb, 5 * kSec, &p), PTL_OK) << ptl_last_error();
  EXPECT_GE(mono_ns() - t0, 290 * kMs);
  EXPECT_EQ(ptl_release(lb, p), PTL_OK);
  EXPECT_EQ(ptl_limiter_penalize(la, -1), PTL_EINVAL);
}

TEST(RedisReconfigure, LiveChangeLetsAWaiterIn) {
  RedisReg a, b;
  Lim la = redis_limiter(a, "reconf", make_cfg(1));
  Lim lb;
  ASSERT_EQ(ptl_registry_get(b, "reconf", lb.out()), PTL_OK);
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(la, -1, &held), PTL_OK);
  std::thread waiter([&] {
    ptl_permit p;
    ASSERT_EQ(ptl_acquire(lb, 10 * kSec, &p), PTL_OK) << ptl_last_error();
    EXPECT_EQ(ptl_release(lb, p), PTL_OK);
  });
  ASSERT_TRUE(wait_waiting(la, 1));
  ptl_limiter_config cfg = make_cfg(2);
  ASSERT_EQ(ptl_limiter_reconfigure(la, &cfg), PTL_OK) << ptl_last_error();
  waiter.join();  // granted while `held` is still out: the new limit counts it
  const ptl_limiter_stats s = stats_of(lb);
  EXPECT_EQ(s.config.max_concurrent, 2u);
  EXPECT_EQ(s.in_flight, 1u) << "the permit held across the reconfigure still counts";
  EXPECT_EQ(ptl_release(la, held), PTL_OK);
}

TEST(RedisStats, CountersAndConfig) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "stats", make_cfg(3, 7, 2.5, 0));
  ptl_permit p;
  ASSERT_EQ(ptl_acquire(lim, -1, &p), PTL_OK);
  ptl_permit q;
  ASSERT_EQ(ptl_acquire(lim, -1, &q), PTL_OK);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.config.max_per_window, 7u);
  EXPECT_EQ(s.config.window_seconds, 2.5);
  EXPECT_EQ(s.in_flight, 2u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.current_window_count, 2u);
  EXPECT_EQ(s.total_acquired, 2u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  const ptl_limiter_stats r = reg_stats(reg, "stats");
  EXPECT_EQ(r.in_flight, 0u);
  EXPECT_EQ(r.current_window_count, 2u);
}

}  // namespace
}  // namespace ptl_test
