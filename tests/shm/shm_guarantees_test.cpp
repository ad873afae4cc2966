// Design section 4 on shm:// under threads of one process (the multi-process versions
// are in shm_process_test.cpp): never over quota, and the window used to the full.
#include <random>
#include <vector>

#include "guarantees_util.hpp"
#include "shm_util.hpp"

namespace ptl_test {
namespace {

void concurrency_hammer(const ptl_limiter_config& cfg) {
  ShmReg reg;
  Lim lim = reg.make(cfg);
  GrantObserver obs(1 << 16);
  std::atomic<int> release_errors{0};
  hammer(8, 600 * kMs, [&](int, std::mt19937& rng) {
    if (observed_call(lim, obs, rng) != PTL_OK) release_errors++;
  });
  EXPECT_EQ(release_errors.load(), 0);
  EXPECT_EQ(obs.check(cfg.max_concurrent, 0, 0, 0, 0), "");
  EXPECT_EQ(obs.max_in_flight(), static_cast<int64_t>(cfg.max_concurrent));
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, obs.grants());
  EXPECT_GT(obs.grants(), 100u);
}

TEST(ShmGuarantee, ConcurrencyNeverExceeded) {
  concurrency_hammer(make_cfg(4));
}

TEST(ShmGuarantee, ConcurrencyNeverExceededWithWindow) {
  concurrency_hammer(make_cfg(4, 1000000000, 1.0));
}

TEST(ShmGuarantee, BoundaryBurstStaysInsideTheWindow) {
  // As the C ABI suite's: 10 per 0.3 s, one grant at g0, a burst of 20 at g0 + 0.7 W.
  constexpr int64_t kWindow = 300 * kMs;
  ShmReg reg;
  Lim lim = reg.make(make_cfg(100, 10, 0.3));
  GrantObserver obs(64);
  const int64_t t0 = mono_ns();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  obs.on_grant(t0);
  obs.on_release();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  sleep_ns(t0 + 7 * kWindow / 10 - mono_ns());
  std::vector<std::thread> ts;
  for (int i = 0; i < 20; ++i)
    ts.emplace_back([&] {
      int64_t tb = mono_ns();
      ptl_permit q = 0;
      ASSERT_EQ(ptl_acquire(lim, 10 * kSec, &q), PTL_OK);
      obs.on_grant(tb);
      obs.on_release();
      EXPECT_EQ(ptl_release(lim, q), PTL_OK);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(obs.grants(), 21u);
  EXPECT_LE(obs.count_between(t0, t0 + kWindow), 10u) << "more than 10 grants in [g0, g0 + W)";
  EXPECT_EQ(obs.check(100, 10, 0, kWindow, kSlack), "");
}

TEST(ShmGuarantee, WeightedCostWindowNeverExceeded) {
  constexpr int64_t kWindow = 200 * kMs;
  ShmReg reg;
  Lim lim = reg.make(make_cfg(50, 0, 0.2, 100));
  GrantObserver obs(4096);
  hammer(8, 800 * kMs, [&](int, std::mt19937& rng) {
    const uint64_t cost = 1 + rng() % 30;
    int64_t t0 = mono_ns();
    ptl_permit p = 0;
    if (ptl_acquire_cost(lim, cost, 300 * kMs, &p) != PTL_OK) return;
    size_t idx = obs.on_grant(t0, cost);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    obs.on_release();
    if (rng() % 2) {
      obs.set_cost(idx, cost / 2);
      EXPECT_EQ(ptl_release_cost(lim, p, cost / 2), PTL_OK);
    } else {
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 10000));
  });
  EXPECT_EQ(obs.check(50, 0, 100, kWindow, kSlack), "");
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(ShmGuarantee, WindowQuotaIsUsedToTheFull) {
  constexpr int64_t kWindow = 200 * kMs;
  ShmReg reg;
  Lim lim = reg.make(make_cfg(10, 20, 0.2));
  GrantObserver obs(1024);
  hammer(10, 5 * kWindow + 50 * kMs, [&](int, std::mt19937&) {
    int64_t t0 = mono_ns();
    ptl_permit p = 0;
    if (ptl_acquire(lim, 100 * kMs, &p) != PTL_OK) return;
    obs.on_grant(t0);
    obs.on_release();
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  });
  std::vector<GrantRecord> rs = obs.records();
  ASSERT_FALSE(rs.empty());
  int64_t first = INT64_MAX;
  for (auto& r : rs) first = std::min(first, r.t_after);
  EXPECT_GE(obs.count_between(first, first + 5 * kWindow), 90u)
      << "a strict window of 20 per 0.2 s allows 100 in 1 s";
  EXPECT_EQ(obs.check(10, 20, 0, kWindow, kSlack), "");
}

}  // namespace
}  // namespace ptl_test
