// SPDX-License-Identifier: MIT
// The local limiter's lock-free window path (WindowRing, ADR 22) as a whole: its answers
// to the nanosecond on simulated time, and its guarantees under real threads while other
// threads keep switching the limiter between its lock-free and locked paths.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "core/local_limiter.hpp"
#include "core_limiter_util.hpp"
#include "manual_clock.hpp"

namespace ptl_test {
namespace {

using ptl::core::Demand;
using ptl::core::LimiterPtr;
using ptl::core::Nanos;
using ptl::core::PermitId;
using ptl::core::Status;

constexpr Nanos kMs = 1'000'000;

// The default demand (one request, no unit named): the only one the lock-free path takes.
Status try_default(const LimiterPtr& lim, PermitId* out, Nanos* retry_after) {
  return lim->try_acquire(Demand{}, out, retry_after);
}

TEST(WindowFastPath, AnswersToTheNanosecondAcrossSwitchesToTheLockedPath) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 3, 0}, {"requests", 2, 100 * kMs}});
  PermitId a = 0, b = 0, c = 0;
  Nanos retry = 0;
  const Nanos t0 = clock.now();
  ASSERT_EQ(try_default(lim, &a, &retry), Status::kOk);  // the first leaves slow mode
  clock.advance(10 * kMs);
  ASSERT_EQ(try_default(lim, &b, &retry), Status::kOk);
  ASSERT_EQ(try_default(lim, &c, &retry), Status::kAgain);
  EXPECT_EQ(retry, 90 * kMs + 1);  // the grant at t0 counts over [t0, t0 + 100 ms]
  // A stats read moves the window into the locked path's log and back: same answers.
  EXPECT_EQ(lim->stats().current_window_count, 2u);
  EXPECT_EQ(lim->usage("requests", 100 * kMs).used, 2u);
  clock.advance(90 * kMs);
  ASSERT_EQ(try_default(lim, &c, &retry), Status::kAgain);
  EXPECT_EQ(retry, 1);
  clock.advance(1);
  ASSERT_EQ(try_default(lim, &c, &retry), Status::kOk);
  EXPECT_EQ(clock.now(), t0 + 100 * kMs + 1);
  // The held limit still counts: three permits out, a fourth has no slot even with room.
  clock.advance(200 * kMs);
  PermitId d = 0;
  ASSERT_EQ(try_default(lim, &d, &retry), Status::kAgain);
  EXPECT_EQ(retry, -1);  // only a release can help
  lim->release(a, std::nullopt);
  EXPECT_EQ(try_default(lim, &d, &retry), Status::kOk);
  for (PermitId p : {b, c, d}) lim->release(p, std::nullopt);
  EXPECT_EQ(lim->stats().in_flight, 0u);
}

TEST(WindowFastPath, DemandsOfOtherShapesInBetweenCountExactly) {
  // Demands the ring cannot serve (two requests at once) take the locked path, and the
  // ring reopens only after a run of default ones: every grant counts either way.
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 40, 100 * kMs}});
  const ptl::core::UnitAmount two{"requests", 2};
  const ptl::core::UnitAmount cost{"tokens", 5};  // 0.1's acquire_cost: no tokens limit
  uint64_t charged = 0;
  PermitId p = 0;
  Nanos retry = 0;
  for (int round = 0; charged + 2 <= 40; ++round) {
    if (round % 3 == 0) {
      ASSERT_EQ(lim->try_acquire(Demand{&two, 1, false}, &p, &retry), Status::kOk);
      charged += 2;
    } else if (round % 3 == 1) {
      ASSERT_EQ(lim->try_acquire(Demand{&cost, 1, true}, &p, &retry), Status::kOk);
      charged += 1;
    } else {
      ASSERT_EQ(try_default(lim, &p, &retry), Status::kOk);
      charged += 1;
    }
    lim->release(p, std::nullopt);
    clock.advance(kMs);
  }
  while (charged < 40) {
    ASSERT_EQ(try_default(lim, &p, &retry), Status::kOk);
    lim->release(p, std::nullopt);
    ++charged;
  }
  EXPECT_EQ(lim->usage("requests", 100 * kMs).used, 40u);
  EXPECT_EQ(try_default(lim, &p, &retry), Status::kAgain);
  EXPECT_EQ(lim->try_acquire(Demand{&cost, 1, true}, &p, &retry), Status::kAgain);
}

// Real threads on the steady clock. Each grant is stamped before the call and after it
// returns: its true moment lies in between. Any max + 1 grants whose stamps all fit in
// one window prove an over-grant; so does a count of held permits above the held limit.
// Meanwhile one thread blocks in acquire (the queue sends everyone to the locked path)
// and another reads stats (which closes and reopens the ring each time).
TEST(WindowFastPath, NeverOverQuotaWhileThreadsSwitchItBetweenItsPaths) {
  constexpr uint64_t kHeld = 2;  // below the 4 threads that acquire, so a broken limit shows
  constexpr uint64_t kMax = 30;
  constexpr Nanos kWindow = 20 * kMs;
  const ptl::core::Clock& steady = ptl::core::steady_clock();
  LimiterPtr lim = make_local(steady, {{"requests", kHeld, 0}, {"requests", kMax, kWindow}});
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
  std::atomic<int> held{0};
  std::atomic<int> most_held{0};
  std::mutex mu;
  std::vector<std::pair<Nanos, Nanos>> grants;  // (stamp before, stamp after)
  auto record = [&](Nanos before, PermitId p) {
    const Nanos after = steady.now();
    const int now_held = held.fetch_add(1) + 1;
    int seen = most_held.load();
    while (now_held > seen && !most_held.compare_exchange_weak(seen, now_held)) {
    }
    {
      std::lock_guard lock(mu);
      grants.emplace_back(before, after);
    }
    held.fetch_sub(1);
    lim->release(p, std::nullopt);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (std::chrono::steady_clock::now() < until) {
        const Nanos before = steady.now();
        PermitId p = 0;
        Nanos retry = 0;
        if (try_default(lim, &p, &retry) == Status::kOk) record(before, p);
      }
    });
  }
  threads.emplace_back([&] {
    while (std::chrono::steady_clock::now() < until) {
      const Nanos before = steady.now();
      PermitId p = 0;
      if (lim->acquire(Demand{}, 5 * kMs, &p) == Status::kOk) record(before, p);
    }
  });
  std::atomic<int> stats_reads{0};
  threads.emplace_back([&] {
    while (std::chrono::steady_clock::now() < until) {
      EXPECT_LE(lim->stats().in_flight, kHeld);
      stats_reads.fetch_add(1);
    }
  });
  for (std::thread& t : threads) t.join();

  EXPECT_LE(most_held.load(), static_cast<int>(kHeld));
  EXPECT_GT(stats_reads.load(), 0);
  std::sort(grants.begin(), grants.end());
  // 400 ms of a 30-per-20-ms window: well over a window's worth, so the check has teeth.
  ASSERT_GT(grants.size(), 4 * kMax);
  for (size_t i = 0; i + kMax < grants.size(); ++i) {
    Nanos last_after = 0;
    for (size_t j = i; j <= i + kMax; ++j) last_after = std::max(last_after, grants[j].second);
    ASSERT_GT(last_after - grants[i].first, kWindow)
        << kMax + 1 << " grants inside one window starting at stamp index " << i;
  }
  EXPECT_EQ(lim->stats().in_flight, 0u);
}

}  // namespace
}  // namespace ptl_test
