// An shm:// limiter through the C ABI, in one process: the C ABI suite's essentials
// (acquire, try, release, windows, costs, penalties, reconfiguration, stats).
#include <climits>
#include <vector>

#include "shm_util.hpp"

namespace ptl_test {
namespace {

TEST(ShmAcquire, PermitsAreNonZeroDistinctAndMarkedShm) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(64));
  std::vector<ptl_permit> ps(64);
  for (auto& p : ps) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    EXPECT_TRUE(is_shm_permit(p)) << std::hex << p;
  }
  std::vector<ptl_permit> sorted = ps;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(stats_of(lim).in_flight, 64u);
  ptl_permit extra = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &extra, nullptr), PTL_EAGAIN);
  for (auto p : ps) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 64u);
  EXPECT_EQ(s.total_rejected, 1u);
}

TEST(ShmAcquire, TimeoutZeroIsEagainPositiveIsEtimedout) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN);
  EXPECT_EQ(ptl_acquire(lim, 1, &q), PTL_ETIMEDOUT);
  const int64_t t0 = mono_ns();
  EXPECT_EQ(ptl_acquire(lim, 30 * kMs, &q), PTL_ETIMEDOUT);
  EXPECT_GE(mono_ns() - t0, 30 * kMs) << "timed out early";
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_timeouts, 2u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(ShmAcquire, WaitersAreServedInArrivalOrder) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  std::vector<int> order;
  std::mutex mu;
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; ++i) {
    ts.emplace_back([&, i] {
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK);
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    });
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(i + 1)));  // i queues before i + 1
  }
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  for (auto& t : ts) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(ShmTryAcquire, RetryAfterIsMinusOneForConcurrencyAndTheTimeForAWindow) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1, 100, 10.0));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  int64_t retry = 12345;
  EXPECT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_EAGAIN);
  EXPECT_EQ(retry, -1);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);

  constexpr int64_t kWindow = 300 * kMs;
  Lim w = reg.make(make_cfg(10, 2, 0.3));
  const int64_t a0 = mono_ns();
  ASSERT_EQ(ptl_try_acquire(w, &p, nullptr), PTL_OK);
  const int64_t a1 = mono_ns();
  ASSERT_EQ(ptl_release(w, p), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(w, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(w, p), PTL_OK);
  const int64_t c0 = mono_ns();
  ASSERT_EQ(ptl_try_acquire(w, &p, &retry), PTL_EAGAIN);
  const int64_t c1 = mono_ns();
  EXPECT_GE(retry, a0 + kWindow - c1 - kMs) << "retry_after too short";
  EXPECT_LE(retry, a1 + kWindow - c0 + kMs) << "retry_after too long";
  sleep_ns(c1 + retry - mono_ns() + 1);
  ASSERT_EQ(ptl_try_acquire(w, &p, nullptr), PTL_OK) << "no room at retry_after";
  EXPECT_EQ(ptl_release(w, p), PTL_OK);
}

TEST(ShmTryAcquire, DoesNotJumpTheQueue) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_EAGAIN) << "try_acquire jumped the queue";
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN) << "acquire(0) jumped the queue";
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  waiter.finish();
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(ShmRelease, DoubleForgedAndForeignPermitsAreEinvalAndChangeNothing) {
  ShmReg reg;
  Lim a = reg.make(make_cfg(3, 10, 10.0, 100));
  Lim b = reg.make(make_cfg(3));
  Lim local = create_limiter(make_cfg(3));
  ptl_permit p = 0, other = 0, pb = 0, pl = 0;
  ASSERT_EQ(ptl_acquire_cost(a, 4, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire(a, 0, &other), PTL_OK);
  ASSERT_EQ(ptl_acquire(b, 0, &pb), PTL_OK);
  ASSERT_EQ(ptl_acquire(local, 0, &pl), PTL_OK);
  EXPECT_FALSE(is_shm_permit(pl));
  ASSERT_EQ(ptl_release(a, p), PTL_OK);
  ptl_limiter_stats before = stats_of(a);
  EXPECT_EQ(ptl_release(a, p), PTL_EINVAL) << "double release";
  EXPECT_TRUE(last_error_mentions("permit")) << ptl_last_error();
  EXPECT_EQ(ptl_release_cost(a, p, 1), PTL_EINVAL);
  for (ptl_permit bad : {ptl_permit{0}, other + 1, other - 1, other ^ (ptl_permit{1} << 40),
                         other ^ (ptl_permit{1} << 24), ~ptl_permit{0}, ptl_permit{1}, pb, pl}) {
    EXPECT_EQ(ptl_release(a, bad), PTL_EINVAL) << std::hex << bad;
  }
  EXPECT_EQ(ptl_release(local, other), PTL_EINVAL) << "a local limiter took an shm permit";
  expect_same_counts(before, stats_of(a));
  EXPECT_EQ(stats_of(a).current_window_cost, 5u);
  EXPECT_EQ(ptl_release(a, other), PTL_OK);
  EXPECT_EQ(ptl_release(b, pb), PTL_OK);
  EXPECT_EQ(ptl_release(local, pl), PTL_OK);
}

TEST(ShmRelease, PermitsAreUniqueAcrossLimitersAndRegistries) {
  ShmReg reg1, reg2;
  std::vector<Lim> lims;
  for (int i = 0; i < 4; ++i) lims.push_back((i % 2 ? reg2 : reg1).make(make_cfg(100)));
  std::vector<ptl_permit> all;
  for (auto& l : lims) {
    for (int k = 0; k < 100; ++k) {
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(l, 0, &p), PTL_OK);
      all.push_back(p);
    }
  }
  std::vector<ptl_permit> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "duplicate permits";
  for (size_t i = 0; i < lims.size(); ++i) {
    EXPECT_EQ(ptl_release(lims[(i + 1) % lims.size()], all[i * 100]), PTL_EINVAL);
  }
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(ptl_release(lims[i / 100], all[i]), PTL_OK);
}

TEST(ShmRelease, StalePermitNeverReleasesItsSuccessor) {
  ShmReg reg;
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = reg.make(make_cfg(1, per_window, 1.0));
    for (int i = 0; i < 2000; ++i) {
      ptl_permit p = 0, q = 0;
      ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
      ASSERT_EQ(ptl_release(lim, p), PTL_OK);
      ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
      ASSERT_NE(p, q) << "iteration " << i;
      ASSERT_EQ(ptl_release(lim, p), PTL_EINVAL) << "iteration " << i;
      ASSERT_EQ(ptl_release(lim, q), PTL_OK);
    }
    EXPECT_EQ(stats_of(lim).in_flight, 0u);
  }
}

TEST(ShmWindow, ClosedIntervalAndRoomAfterExactlyTheWindow) {
  // 3 per 0.2 s: the 4th waits until the first grant is more than a window old.
  constexpr int64_t kWindow = 200 * kMs;
  ShmReg reg;
  Lim lim = reg.make(make_cfg(10, 3, 0.2));
  const int64_t t0 = mono_ns();
  for (int i = 0; i < 3; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  EXPECT_EQ(stats_of(lim).current_window_count, 3u);
  ptl_permit p = 0;
  const int rc = ptl_try_acquire(lim, &p, nullptr);
  refused_before(lim, rc, p, t0 + kWindow);
  ASSERT_EQ(ptl_acquire(lim, 5 * kSec, &p), PTL_OK);
  EXPECT_GE(mono_ns(), t0 + kWindow) << "granted inside the window";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(ShmWindow, LargeWindowLogGrowsAndStaysExact) {
  // 2000 per 30 s: the log grows from 16 entries to 2000, keeping every entry.
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1, 2000, 30.0));
  for (int i = 0; i < 2000; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << i;
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  ptl_permit p = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &p, &retry), PTL_EAGAIN);
  EXPECT_GT(retry, 20 * kSec);
  EXPECT_EQ(stats_of(lim).current_window_count, 2000u);
}

TEST(ShmCost, LimitsAndCorrections) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(5, 0, 10.0, 10));
  ptl_permit p = 0;
  EXPECT_EQ(ptl_acquire_cost(lim, 11, -1, &p), PTL_EINVAL) << "must not wait forever";
  EXPECT_TRUE(last_error_mentions("cost")) << ptl_last_error();
  ASSERT_EQ(ptl_acquire_cost(lim, 5, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, p, 2), PTL_OK);  // down
  EXPECT_EQ(stats_of(lim).current_window_cost, 2u);
  ASSERT_EQ(ptl_acquire_cost(lim, 3, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, p, 7), PTL_OK);  // up
  EXPECT_EQ(stats_of(lim).current_window_cost, 9u);
  EXPECT_EQ(ptl_acquire_cost(lim, 2, 0, &p), PTL_EAGAIN);
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << "plain acquire costs one unit";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 10u);
  EXPECT_EQ(ptl_release_cost(lim, p, 1), PTL_EINVAL);
}

TEST(ShmCost, DownwardCorrectionLetsAWaiterIn) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(5, 0, 30.0, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK);
  Holder waiter(lim, 6);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_release_cost(lim, p, 3), PTL_OK);  // 3 + 6 <= 10: the waiter fits now
  ASSERT_TRUE(waiter.wait_done(5 * kSec));
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST(ShmPenalize, PausesEverySharerAndQueuedWaiters) {
  ShmReg reg;
  ptl_limiter_config cfg = make_cfg(1);
  Lim h1 = reg.make(cfg, "p");
  ShmOpen other(reg.uri());
  Lim h2;
  ASSERT_EQ(ptl_registry_get(other, "p", h2.out()), PTL_OK);
  ptl_permit held = 0, p = 0;
  ASSERT_EQ(ptl_acquire(h2, 0, &held), PTL_OK);
  Holder waiter(h1);
  ASSERT_TRUE(wait_waiting(h1, 1));
  constexpr int64_t kPenalty = 250 * kMs;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(h1, kPenalty), PTL_OK);
  ASSERT_EQ(ptl_release(h2, held), PTL_OK);
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_GE(waiter.t_after(), t0 + kPenalty) << "granted during the penalty";
  waiter.finish();
  EXPECT_EQ(ptl_limiter_penalize(h1, -1), PTL_EINVAL);
  ASSERT_EQ(ptl_limiter_penalize(h2, INT64_MAX), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(h1, &p, &retry), PTL_EAGAIN) << "INT64_MAX penalty overflowed";
  EXPECT_GT(retry, 0);
}

TEST(ShmReconfigure, KeepsInFlightAndWakesWaiters) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(4));
  ptl_permit p[4];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  ptl_limiter_config c2 = make_cfg(2);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c2), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 4u);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  for (int i = 0; i < 2; ++i) {  // 4 -> 3 -> 2 in flight: still no room under 2
    ASSERT_EQ(ptl_release(lim, p[i]), PTL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_FALSE(waiter.done()) << "granted with " << 3 - i << " in flight and max 2";
  }
  ptl_limiter_config c5 = make_cfg(5);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c5), PTL_OK);  // raising wakes it at once
  ASSERT_TRUE(waiter.wait_done(5 * kSec));
  EXPECT_EQ(waiter.rc(), PTL_OK);
  waiter.finish();
  EXPECT_EQ(ptl_release(lim, p[2]), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p[3]), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(ShmReconfigure, KeepsWindowHistoryAndShrinkingTheCostFailsATooBigWaiter) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(10, 2, 30.0));
  ptl_permit p = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  ptl_limiter_config c3 = make_cfg(10, 3, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c3), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_count, 2u);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN) << "history lost on reconfigure";

  Lim costly = reg.make(make_cfg(10, 0, 30.0, 10));
  ASSERT_EQ(ptl_acquire_cost(costly, 10, 0, &p), PTL_OK);
  Holder big(costly, 8);
  ASSERT_TRUE(wait_waiting(costly, 1));
  ptl_limiter_config small = make_cfg(10, 0, 30.0, 5);
  ASSERT_EQ(ptl_limiter_reconfigure(costly, &small), PTL_OK);
  ASSERT_TRUE(big.wait_done(5 * kSec)) << "a waiter that can never fit stayed queued";
  EXPECT_EQ(big.rc(), PTL_EINVAL);
  EXPECT_EQ(ptl_release(costly, p), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
