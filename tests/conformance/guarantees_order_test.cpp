// SPDX-License-Identifier: MIT
// The guarantees under real threads, on every backend: FIFO grant order across the
// registries that share a limiter, and no starvation.
#include <vector>

#include "conformance.hpp"
#include "guarantees_util.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Fairness);

// ---- FIFO ------------------------------------------------------------------------------

// Starts waiter k only when waiters 0..k-1 are seen queued, through `lim` and a handle of
// another registry in turn; each records its tag while holding the permit
// (max_concurrent 1, so recording order is grant order).
void fifo_run(ptl_limiter* lim, ptl_limiter* other_handle, int n, bool use_cost) {
  GrantObserver obs(64);
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  std::vector<std::thread> ts;
  for (int k = 0; k < n; ++k) {
    ptl_limiter* h = k % 2 ? other_handle : lim;
    ts.emplace_back([&, h, k] {
      int64_t t0 = mono_ns();
      ptl_permit p = 0;
      int rc = use_cost ? ptl_acquire_cost(h, 1 + static_cast<uint64_t>(k % 3), 30 * kSec, &p)
                        : ptl_acquire(h, 30 * kSec, &p);
      ASSERT_EQ(rc, PTL_OK);
      obs.on_grant(t0, 1, k);
      obs.on_release();
      EXPECT_EQ(ptl_release(h, p), PTL_OK);
    });
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(k + 1))) << "waiter " << k;
  }
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  for (auto& t : ts) t.join();
  std::vector<int> expected(n);
  for (int k = 0; k < n; ++k) expected[k] = k;
  EXPECT_EQ(obs.check_order(expected), "");
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(Fairness, FifoByConcurrency) {
  Lim lim = make(make_cfg(1), "f");
  fifo_run(lim, get(peer(), "f"), 12, false);
}

TEST_P(Fairness, FifoByConcurrencyAndWindow) {
  Lim lim = make(make_cfg(1, 1, 0.02), "f");
  fifo_run(lim, get(peer(), "f"), 8, false);
}

TEST_P(Fairness, FifoWithCosts) {
  Lim lim = make(make_cfg(1, 0, 0.02, 3), "f");
  fifo_run(lim, get(peer(), "f"), 8, true);
}

TEST_P(Fairness, FifoByWindowAlone) {
  // Plenty of concurrency, 1 grant per window. The window is first 30 s long so the
  // waiters queue in a known order without time pressure; then it is cut to 40 ms and
  // they must come out 40 ms apart, in arrival order.
  constexpr int64_t kWindow = 40 * kMs;
  Lim lim = make(make_cfg(100, 1, 30.0));
  GrantObserver obs(64);
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  obs.on_grant(t0, 1, -1);
  obs.on_release();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  std::vector<std::thread> ts;
  constexpr int kN = 6;
  for (int k = 0; k < kN; ++k) {
    ts.emplace_back([&, k] {
      int64_t tb = mono_ns();
      ptl_permit q = 0;
      ASSERT_EQ(ptl_acquire(lim, 30 * kSec, &q), PTL_OK);
      obs.on_grant(tb, 1, k);
      obs.on_release();
      EXPECT_EQ(ptl_release(lim, q), PTL_OK);
    });
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(k + 1))) << "waiter " << k;
  }
  ptl_limiter_config shorter = make_cfg(100, 1, 0.04);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &shorter), PTL_OK);
  for (auto& t : ts) t.join();
  std::vector<GrantRecord> rs = obs.records();
  std::sort(rs.begin(), rs.end(),
            [](const GrantRecord& a, const GrantRecord& b) { return a.t_after < b.t_after; });
  std::vector<int> order;
  for (auto& r : rs) order.push_back(r.tag);
  EXPECT_EQ(order, (std::vector<int>{-1, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(obs.check(0, 1, 0, kWindow, kSlack), "");
}

// ---- liveness --------------------------------------------------------------------------

TEST_P(Fairness, NobodyStarves) {
  constexpr int kThreads = 12, kEach = 40;
  Lim lim = make(make_cfg(2, 100, 0.1));  // 480 grants at <= 1000/s
  std::vector<int> done(kThreads, 0);
  run_or_die("12 threads x 40 acquires", [&] {
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i)
      ts.emplace_back([&, i] {
        for (int k = 0; k < kEach; ++k) {
          ptl_permit p = 0;
          ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK) << "thread " << i << " starved";
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          ASSERT_EQ(ptl_release(lim, p), PTL_OK);
          done[i]++;
        }
      });
    for (auto& t : ts) t.join();
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(done[i], kEach) << "thread " << i;
  EXPECT_EQ(stats_of(lim).total_acquired, static_cast<uint64_t>(kThreads * kEach));
}

}  // namespace
}  // namespace ptl_test
