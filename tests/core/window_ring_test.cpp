// SPDX-License-Identifier: MIT
// WindowRing: the lock-free claim of a "max requests per window" limit.
#include "core/window_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace ptl::core {
namespace {

using Claim = WindowRing::Claim;

// A clock the test sets; every reading of now() can also advance it by `step`, like a
// clock that keeps running between a claim's readings. now_lower_bound() lags by `lag`.
class TestClock final : public Clock {
 public:
  explicit TestClock(Nanos start, Nanos step = 0, Nanos lag = 0)
      : t_(start), step_(step), lag_(lag) {}
  void set(Nanos t) { t_.store(t); }
  Nanos now() const override { return t_.fetch_add(step_); }
  Nanos now_lower_bound() const override { return t_.load() - lag_; }
  void wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, Nanos) const override {}
  void run_at(Nanos, std::function<void()>) const override {}

 private:
  mutable std::atomic<Nanos> t_;
  const Nanos step_;
  const Nanos lag_;
};

Claim claim_at(WindowRing& ring, Nanos t, Nanos* at) {
  const TestClock clock(t);
  return ring.try_claim(clock, at);
}

TEST(WindowRing, GrantsMaxPerWindowOverTheClosedInterval) {
  WindowRing ring(8);
  ring.open(3, 100, {});
  Nanos at = 0;
  EXPECT_EQ(claim_at(ring, 0, &at), Claim::kGranted);
  EXPECT_EQ(at, 0);
  EXPECT_EQ(claim_at(ring, 1, &at), Claim::kGranted);
  EXPECT_EQ(claim_at(ring, 2, &at), Claim::kGranted);
  // The grant at 0 counts over [0, 100]: room comes back at 101, not before.
  EXPECT_EQ(claim_at(ring, 100, &at), Claim::kFull);
  EXPECT_EQ(at, 101);
  EXPECT_EQ(claim_at(ring, 101, &at), Claim::kGranted);
  EXPECT_EQ(claim_at(ring, 101, &at), Claim::kFull);
  EXPECT_EQ(at, 102);  // the grant at 1 is now the oldest
}

TEST(WindowRing, ChecksWithAReadingBeforeTheClaimAndRecordsOneAfterIt) {
  // A claimer preempted between its reading and its claim takes effect later than its
  // reading: the grant is recorded by a reading taken after the claim, so it stays in
  // the window as long as it really is in it.
  WindowRing ring(4);
  ring.open(1, 100, {});
  Nanos at = 0;
  {
    // Read 1000 before the claim, 1300 after it (preempted in between).
    const TestClock preempted(1300, 0, /*lag=*/300);
    ASSERT_EQ(ring.try_claim(preempted, &at), Claim::kGranted);
    EXPECT_EQ(at, 1300);
    EXPECT_EQ(claim_at(ring, 1350, &at), Claim::kFull);  // counted from 1300, not 1000
    EXPECT_EQ(at, 1401);
    ring.close();
    ring.open(1, 100, {});
  }
  TestClock running(1000, /*step=*/400);  // each now() moves the clock on by 400
  ASSERT_EQ(ring.try_claim(running, &at), Claim::kGranted);
  EXPECT_EQ(at, 1000);  // lower bound 1000 passed; the reading after the claim says 1000
  // The next reading (1400) is more than the window past 1000: granted, recorded at 1400.
  ASSERT_EQ(ring.try_claim(running, &at), Claim::kGranted);
  EXPECT_EQ(at, 1400);
  // The coarse reading may lag: a lower bound that says "full" is checked again exactly.
  TestClock lagging(1501, 0, /*lag=*/50);
  ASSERT_EQ(ring.try_claim(lagging, &at), Claim::kGranted);
  EXPECT_EQ(at, 1501);
}

TEST(WindowRing, ClosedRefusesAndReopensWithTheTimesItHeld) {
  WindowRing ring(4);
  Nanos at = 0;
  EXPECT_EQ(claim_at(ring, 0, &at), Claim::kClosed);  // a new ring starts closed
  ring.open(3, 100, {10, 20});
  EXPECT_TRUE(ring.is_open());
  EXPECT_EQ(claim_at(ring, 30, &at), Claim::kGranted);
  EXPECT_EQ(claim_at(ring, 40, &at), Claim::kFull);
  EXPECT_EQ(at, 111);
  ring.close();
  EXPECT_FALSE(ring.is_open());
  EXPECT_EQ(claim_at(ring, 500, &at), Claim::kClosed);
  EXPECT_EQ(ring.times(), (std::vector<Nanos>{10, 20, 30}));
  // Reopened with a smaller max: only the newest grants it can hold are kept.
  ring.open(2, 100, ring.times());
  EXPECT_EQ(claim_at(ring, 115, &at), Claim::kFull);
  EXPECT_EQ(at, 121);  // 20 is the oldest of the two kept
  EXPECT_EQ(claim_at(ring, 121, &at), Claim::kGranted);
}

// Threads claim on a shared logical clock while the owner keeps closing and reopening the
// ring, as LocalLimiter does on every switch to its locked path. Checked: a grant is
// recorded after the claimer's reading; no window ever holds more than max recorded
// grants (any two grants max claims apart are more than a window apart); after each
// close the times read back never go back; and after the last close the ring holds max
// grants, the newest among them (a claim still writing its time would leave an older).
TEST(WindowRing, ThreadsNeverOverfillAWindowWhileTheOwnerClosesAndReopens) {
  constexpr uint64_t kMax = 5;
  constexpr Nanos kWindow = 200;
  constexpr int kThreads = 4;
  constexpr int kClaimsPerThread = 20000;
  WindowRing ring(kMax);
  ring.open(kMax, kWindow, {});
  // Every reading is a fresh tick: readings go stale whenever a thread is preempted.
  const TestClock clock(1, /*step=*/1, /*lag=*/1);
  std::atomic<int> running{kThreads};
  std::mutex mu;
  std::vector<Nanos> granted;  // every recorded time, in any order
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<Nanos> mine;
      for (int i = 0; i < kClaimsPerThread; ++i) {
        const Nanos before = clock.now_lower_bound();
        Nanos at = 0;
        if (ring.try_claim(clock, &at) == Claim::kGranted) {
          EXPECT_GT(at, before);
          mine.push_back(at);
        }
      }
      std::lock_guard lock(mu);
      granted.insert(granted.end(), mine.begin(), mine.end());
      running.fetch_sub(1);
    });
  }
  int reopened = 0;
  while (running.load() > 0) {
    ring.close();
    const std::vector<Nanos> held = ring.times();
    EXPECT_TRUE(std::is_sorted(held.begin(), held.end()));
    ring.open(kMax, kWindow, held);
    ++reopened;
    std::this_thread::yield();
  }
  for (std::thread& t : threads) t.join();
  ring.close();
  std::sort(granted.begin(), granted.end());
  ASSERT_GT(granted.size(), kMax);
  for (size_t i = kMax; i < granted.size(); ++i) {
    ASSERT_GT(granted[i] - granted[i - kMax], kWindow)
        << kMax + 1 << " grants within one window, the last at " << granted[i];
  }
  const std::vector<Nanos> held = ring.times();
  ASSERT_EQ(held.size(), kMax);
  EXPECT_EQ(held.back(), granted.back());
  EXPECT_GT(reopened, 0);
}

}  // namespace
}  // namespace ptl::core
