// SPDX-License-Identifier: MIT
// Limiter statistics on every backend: exact counts, configs, window eviction, and no
// trace of timed-out acquires.
#include <vector>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Stats);

// Starts an async acquire whose callback stores its status in *st.
int start_async(ptl_limiter* lim, int64_t timeout, std::atomic<int>* st, uint64_t* ticket) {
  return ptl_acquire_async(
      lim, 1, timeout,
      [](void* u, int status, ptl_permit) { static_cast<std::atomic<int>*>(u)->store(status); }, st,
      ticket);
}

TEST_P(Stats, ExactCounts) {
  use_test_time();
  Lim lim = make(make_cfg(2, 0, 1.0, 0));
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.config.max_concurrent, 2u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.current_window_count, 0u);
  EXPECT_EQ(s.current_window_cost, 0u);
  EXPECT_EQ(s.total_acquired, 0u);
  EXPECT_EQ(s.total_timeouts, 0u);
  EXPECT_EQ(s.total_cancelled, 0u);
  EXPECT_EQ(s.total_rejected, 0u);
  EXPECT_EQ(s.total_wait_ns, 0u);

  ptl_permit a = 0, b = 0, c = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &a), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &b, nullptr), PTL_OK);
  s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 2u);
  EXPECT_EQ(s.total_acquired, 2u);
  EXPECT_EQ(s.total_wait_ns, 0u) << "nobody had to wait yet";

  // Three rejected try_acquires.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ptl_try_acquire(lim, &c, nullptr), PTL_EAGAIN);
  s = stats_of(lim);
  EXPECT_EQ(s.total_rejected, 3u);
  EXPECT_EQ(s.total_timeouts, 0u);
  EXPECT_EQ(s.total_acquired, 2u);

  // acquire(0) that finds no room is counted once, as a rejection or a timeout.
  EXPECT_EQ(ptl_acquire(lim, 0, &c), PTL_EAGAIN);
  const ptl_limiter_stats s2 = stats_of(lim);
  EXPECT_EQ(s2.total_rejected + s2.total_timeouts, 4u);

  // Two sync timeouts and one async timeout, 5 ms each.
  for (bool with_cost : {false, true}) {
    const int64_t t = now();
    Holder timed(lim, [&](ptl_permit* out) {
      return with_cost ? ptl_acquire_cost(lim, 1, 5 * kMs, out) : ptl_acquire(lim, 5 * kMs, out);
    });
    if (simulated()) {
      ASSERT_TRUE(wait_waiting(lim, 1));
    }
    ASSERT_TRUE(ends_at(timed, t + 5 * kMs));
    EXPECT_EQ(timed.rc(), PTL_ETIMEDOUT);
  }
  std::atomic<int> st{1};
  uint64_t ticket = 0;
  ASSERT_EQ(start_async(lim, 5 * kMs, &st, &ticket), PTL_OK);
  advance(5 * kMs);
  ASSERT_TRUE(wait_until([&] { return st.load() != 1; }));
  EXPECT_EQ(st.load(), PTL_ETIMEDOUT);
  s = stats_of(lim);
  EXPECT_EQ(s.total_timeouts - s2.total_timeouts, 3u);
  EXPECT_EQ(s.total_acquired, 2u);
  EXPECT_EQ(s.waiting, 0u);

  // One cancelled async acquire.
  st = 1;
  ASSERT_EQ(start_async(lim, -1, &st, &ticket), PTL_OK);
  EXPECT_EQ(stats_of(lim).waiting, 1u);
  ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK);
  EXPECT_EQ(st.load(), PTL_ECANCELED);
  s = stats_of(lim);
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(s.waiting, 0u);

  // Three blocked waiters show in `waiting`; their wait time is summed.
  std::vector<std::thread> ws;
  std::atomic<int> granted{0};
  for (int i = 0; i < 3; ++i)
    ws.emplace_back([&] {
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK);
      granted++;
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    });
  ASSERT_TRUE(wait_waiting(lim, 3));
  const int64_t all_waiting = now();
  advance(20 * kMs);
  const int64_t released = now();
  ASSERT_EQ(ptl_release(lim, a), PTL_OK);
  for (auto& t : ws) t.join();
  EXPECT_EQ(granted.load(), 3);
  s = stats_of(lim);
  EXPECT_EQ(s.total_acquired, 5u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.in_flight, 1u);
  // Each of the three waited at least from all_waiting to released.
  EXPECT_GE(s.total_wait_ns, static_cast<uint64_t>(3 * (released - all_waiting)));
  if (simulated()) {  // and exactly that, plus the three 5 ms timeouts (the cancel: none)
    EXPECT_EQ(s.total_wait_ns, static_cast<uint64_t>(3 * (released - all_waiting) + 15 * kMs));
  }
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(ptl_release(lim, b), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(Stats, ConfigAndCountsByHandleAndByName) {
  Lim lim = make(make_cfg(4, 10, 2.5, 100), "st");
  ptl_limiter_stats s = reg_stats(reg(), "st");
  EXPECT_EQ(s.struct_size, sizeof s);
  EXPECT_EQ(s.config.struct_size, sizeof(ptl_limiter_config));
  for (const ptl_limiter_stats& x : {s, stats_of(lim), reg_stats(peer(), "st")}) {
    EXPECT_EQ(x.config.max_concurrent, 4u);
    EXPECT_EQ(x.config.max_per_window, 10u);
    EXPECT_EQ(x.config.window_seconds, 2.5);
    EXPECT_EQ(x.config.max_cost_per_window, 100u);
    EXPECT_EQ(x.in_flight, 0u);
    EXPECT_EQ(x.total_acquired, 0u);
  }
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 7, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, -1, &q), PTL_OK);
  s = reg_stats(reg(), "st");
  EXPECT_EQ(s.in_flight, 2u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.current_window_count, 2u);
  EXPECT_EQ(s.current_window_cost, 8u);
  EXPECT_EQ(s.total_acquired, 2u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  s = reg_stats(peer(), "st");  // the same limiter through another registry
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.current_window_count, 2u);
  EXPECT_EQ(s.total_acquired, 2u);
}

TEST_P(Stats, WindowCountIsEvictedAtTheTimeOfTheCall) {
  use_test_time();
  constexpr int64_t kWindow = 200 * kMs;
  Lim lim = make(make_cfg(10, 5, 0.2, 50));
  ptl_permit p = 0;
  const int64_t t0 = now();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ptl_acquire_cost(lim, 4, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  const int64_t t1 = now();  // after the last grant
  ptl_limiter_stats s = stats_of(lim);
  if (now() < t0 + kWindow) {
    EXPECT_EQ(s.current_window_count, 3u);
    EXPECT_EQ(s.current_window_cost, 12u);
  }
  if (simulated()) {  // the window includes its end
    advance_to(t1 + kWindow);
    EXPECT_EQ(stats_of(lim).current_window_count, 3u) << "evicted 1 ns early";
  }
  advance_to(t1 + kWindow + 1);
  s = stats_of(lim);  // no acquire since: the stats call itself evicts
  EXPECT_EQ(s.current_window_count, 0u);
  EXPECT_EQ(s.current_window_cost, 0u);
  EXPECT_EQ(s.total_acquired, 3u);
}

TEST_P(Stats, TimedOutAcquireLeavesNoTraceInTheWindow) {
  use_test_time();
  constexpr int64_t kWindow = 200 * kMs;
  Lim lim = make(make_cfg(10, 2, 0.2));
  ptl_permit p = 0;
  const int64_t t0 = now();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  const int64_t t1 = now();  // after the last grant
  {
    Holder timed(lim, 1, 20 * kMs);
    if (simulated()) {
      ASSERT_TRUE(wait_waiting(lim, 1));
      ASSERT_TRUE(ends_at(timed, t1 + 20 * kMs));
    }
    ASSERT_TRUE(timed.wait_done());
    if (timed.t_after() < t0 + kWindow) {
      EXPECT_EQ(timed.rc(), PTL_ETIMEDOUT) << ptl_status_name(timed.rc());
    }
  }
  int rc = ptl_try_acquire(lim, &p, nullptr);
  refused_before(lim, rc, p, t0 + kWindow);
  const uint64_t count = stats_of(lim).current_window_count;
  if (now() < t0 + kWindow) {
    EXPECT_EQ(count, 2u) << "the timed-out acquire was counted in the window";
  }
  advance_to(t1 + kWindow + 1);
  EXPECT_EQ(stats_of(lim).current_window_count, 0u);
  ptl_permit q = 0, r = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &r, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
