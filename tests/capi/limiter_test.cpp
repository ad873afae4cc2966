// Limiter semantics through the C ABI: acquire/try/release, costs, retry_after, queue
// discipline, penalize, reconfigure, statistics.
#include <climits>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// A thread that acquires, reports, holds until told, then releases.
class Holder {
 public:
  // A finite default timeout: a limiter that never grants fails the test, not hangs it.
  Holder(ptl_limiter* lim, uint64_t cost = 1, int64_t timeout_ns = 20 * kSec)
      : lim_(lim), t_([this, cost, timeout_ns] {
          t_before_ = mono_ns();
          ptl_permit p = 0;
          int rc = ptl_acquire_cost(lim_, cost, timeout_ns, &p);
          t_after_ = mono_ns();
          rc_ = rc;
          done_ = true;
          while (!go_) std::this_thread::sleep_for(std::chrono::microseconds(200));
          if (rc == PTL_OK) {
            EXPECT_EQ(ptl_release(lim_, p), PTL_OK);
          }
        }) {}
  ~Holder() { finish(); }
  void finish() {
    go_ = true;
    if (t_.joinable()) t_.join();
  }
  bool done() const { return done_; }
  bool wait_done(int64_t timeout_ns = 10 * kSec) {
    return wait_until([this] { return done_.load(); }, timeout_ns);
  }
  int rc() const { return rc_; }
  int64_t t_before() const { return t_before_; }
  int64_t t_after() const { return t_after_; }

 private:
  ptl_limiter* lim_;
  std::atomic<bool> done_{false}, go_{false};
  std::atomic<int> rc_{1};
  std::atomic<int64_t> t_before_{0}, t_after_{0};
  std::thread t_;
};

void expect_same_counts(const ptl_limiter_stats& a, const ptl_limiter_stats& b) {
  EXPECT_EQ(a.in_flight, b.in_flight);
  EXPECT_EQ(a.waiting, b.waiting);
  EXPECT_EQ(a.current_window_count, b.current_window_count);
  EXPECT_EQ(a.current_window_cost, b.current_window_cost);
  EXPECT_EQ(a.total_acquired, b.total_acquired);
  EXPECT_EQ(a.total_timeouts, b.total_timeouts);
  EXPECT_EQ(a.total_cancelled, b.total_cancelled);
}

// ---- acquire / try_acquire -------------------------------------------------------------

TEST(CapiAcquire, PermitsAreNonZeroAndDistinct) {
  Lim lim = create_limiter(make_cfg(64));
  std::vector<ptl_permit> ps(64);
  for (auto& p : ps) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    EXPECT_NE(p, 0u);
  }
  std::vector<ptl_permit> sorted = ps;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(stats_of(lim).in_flight, 64u);
  for (auto p : ps) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiAcquire, TimeoutZeroIsEagainPositiveIsEtimedout) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN);
  EXPECT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_EAGAIN);
  EXPECT_EQ(ptl_acquire(lim, 1, &q), PTL_ETIMEDOUT);
  const int64_t t0 = mono_ns();
  EXPECT_EQ(ptl_acquire(lim, 30 * kMs, &q), PTL_ETIMEDOUT);
  EXPECT_GE(mono_ns() - t0, 30 * kMs) << "timed out early";
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(CapiAcquire, HugeAndNegativeTimeoutsWaitForever) {
  // INT64_MAX must not overflow a deadline into the past; any negative value is forever.
  for (int64_t timeout : {INT64_MAX, INT64_MAX - 1, int64_t{-1}, int64_t{-12345}, INT64_MIN})
    for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
      SCOPED_TRACE(timeout);
      SCOPED_TRACE(per_window);
      Lim lim = create_limiter(make_cfg(1, per_window, 10.0));
      ptl_permit p = 0, q = 0;
      ASSERT_EQ(ptl_acquire(lim, timeout, &p), PTL_OK);  // free: immediate
      std::atomic<int> rc{1};
      std::thread t([&] { rc = ptl_acquire(lim, timeout, &q); });
      ASSERT_TRUE(wait_waiting(lim, 1)) << "the waiter did not queue: rc " << rc.load();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_EQ(rc.load(), 1) << "returned without a release";
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
      t.join();
      EXPECT_EQ(rc.load(), PTL_OK);
      EXPECT_EQ(ptl_release(lim, q), PTL_OK);
    }
}

TEST(CapiTryAcquire, RetryAfterIsMinusOneWhenOnlyConcurrencyIsExhausted) {
  for (uint64_t per_window : {uint64_t{0}, uint64_t{100}}) {
    Lim lim = create_limiter(make_cfg(1, per_window, 10.0));
    ptl_permit p = 0, q = 0;
    ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
    int64_t retry = 12345;
    EXPECT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_EAGAIN);
    EXPECT_EQ(retry, -1) << "per_window " << per_window;
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    retry = 12345;
    ASSERT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_OK);
    EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  }
}

TEST(CapiTryAcquire, RetryAfterIsTheTimeUntilTheWindowAllows) {
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = create_limiter(make_cfg(10, 2, 0.3));
  const int64_t a0 = mono_ns();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  const int64_t a1 = mono_ns();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);

  int64_t retry = 0;
  const int64_t c0 = mono_ns();
  ASSERT_EQ(ptl_try_acquire(lim, &p, &retry), PTL_EAGAIN);
  const int64_t c1 = mono_ns();
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, kWindow);
  // The first grant g lies in [a0, a1] and leaves the window at g + W; the call ran in
  // [c0, c1]: the exact answer lies in [a0 + W - c1, a1 + W - c0] (1 ms for rounding).
  EXPECT_GE(retry, a0 + kWindow - c1 - kMs) << "retry_after too short: a retry would fail";
  EXPECT_LE(retry, a1 + kWindow - c0 + kMs) << "retry_after too long";

  // Still full a little before that time ...
  if (retry > 40 * kMs) {
    sleep_ns(retry - 30 * kMs - (mono_ns() - c1));
    const int rc = ptl_try_acquire(lim, &p, nullptr);
    refused_before(lim, rc, p, a0 + kWindow);  // the first grant is still in the window
  }
  // ... and room at that time.
  sleep_ns(c1 + retry - mono_ns() + 1);
  int64_t retry2 = 0;
  int rc = ptl_try_acquire(lim, &p, &retry2);
  EXPECT_EQ(rc, PTL_OK) << "no room " << retry << " ns after; now retry_after " << retry2;
  if (rc == PTL_OK) {
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  }
}

TEST(CapiTryAcquire, RetryAfterForCost) {
  Lim lim = create_limiter(make_cfg(10, 0, 0.3, 10));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire_cost(lim, 9, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  // Plain acquires cost 1: one fits, the next does not.
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  int64_t retry = 0;
  const int rc = ptl_try_acquire(lim, &p, &retry);
  if (refused_before(lim, rc, p, t0 + 300 * kMs)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, 300 * kMs);
  }
}

TEST(CapiTryAcquire, HandsFreedPermitToTheQueuedWaiterNotToTryAcquire) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  // The freed permit belongs to the queued waiter, whether or not it has woken yet.
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &q, &retry), PTL_EAGAIN) << "try_acquire jumped the queue";
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN) << "acquire(0) jumped the queue";
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  waiter.finish();
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(CapiTryAcquire, DoesNotJumpAQueuedCostlyWaiter) {
  // 10 units per 0.4 s. 8 units taken; a waiter wants 5 (must wait for the window);
  // a cost-1 request would fit now but must not pass the queued waiter.
  constexpr int64_t kWindow = 400 * kMs;
  Lim lim = create_limiter(make_cfg(10, 0, 0.4, 10));
  const int64_t t8 = mono_ns();
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 8, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder big(lim, 5);
  ASSERT_TRUE(wait_waiting(lim, 1));
  // Each of these would fit (8 + 1 <= 10) but the cost-5 waiter is ahead.
  int rc = ptl_try_acquire(lim, &q, nullptr);
  refused_before(lim, rc, q, t8 + kWindow);
  rc = ptl_acquire(lim, 0, &q);
  refused_before(lim, rc, q, t8 + kWindow);
  rc = ptl_acquire_cost(lim, 1, 0, &q);
  refused_before(lim, rc, q, t8 + kWindow);
  rc = ptl_acquire_cost(lim, 1, 20 * kMs, &q);
  refused_before(lim, rc, q, t8 + kWindow, PTL_ETIMEDOUT);
  Holder small(lim, 1);
  ASSERT_TRUE(wait_until([&] { return stats_of(lim).waiting == 2 || small.done(); }));
  ASSERT_TRUE(big.wait_done());
  ASSERT_TRUE(small.wait_done());
  EXPECT_EQ(big.rc(), PTL_OK);
  EXPECT_EQ(small.rc(), PTL_OK);
  // Neither could be granted before the 8 units left the window.
  EXPECT_GE(big.t_after(), t8 + kWindow);
  EXPECT_GE(small.t_after(), t8 + kWindow) << "the small waiter passed the big one";
}

// ---- waiters that leave, and conditions that change while a waiter sleeps ---------------

TEST(CapiQueue, TimeoutShorterThanTheWindowWaitIsHonoured) {
  Lim lim = create_limiter(make_cfg(5, 1, 2.0));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  const int64_t t0 = mono_ns();
  EXPECT_EQ(ptl_acquire(lim, 50 * kMs, &p), PTL_ETIMEDOUT);
  const int64_t took = mono_ns() - t0;
  EXPECT_GE(took, 50 * kMs);
  EXPECT_LT(took, 1000 * kMs) << "slept to the window's end instead of the timeout";
  EXPECT_EQ(stats_of(lim).waiting, 0u);
}

// A head waiter that cannot fit leaves (timeout, cancel); the follower, which fits, must
// then be granted at once rather than at the next unrelated event (the window's end).
void head_leaves(const char* how) {
  SCOPED_TRACE(how);
  constexpr int64_t kWindow = 2 * kSec;
  Lim lim = create_limiter(make_cfg(10, 0, 2.0, 10));
  ptl_permit p = 0;
  const int64_t t8 = mono_ns();
  ASSERT_EQ(ptl_acquire_cost(lim, 8, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  std::atomic<int> head_status{1};
  uint64_t ticket = 0;
  std::thread sync_head;
  struct Joiner {  // joins on every exit, early ASSERT returns included
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) t.join();
    }
  } joiner{sync_head};
  const std::string mode = how;
  if (mode == "sync timeout") {
    sync_head = std::thread([&] {
      ptl_permit q = 0;
      head_status = ptl_acquire_cost(lim, 5, 100 * kMs, &q);
    });
  } else {
    ASSERT_EQ(ptl_acquire_async(
                  lim, 5, mode == "async timeout" ? 100 * kMs : -1,
                  [](void* u, int st, ptl_permit) { static_cast<std::atomic<int>*>(u)->store(st); },
                  &head_status, &ticket),
              PTL_OK);
  }
  ASSERT_TRUE(wait_waiting(lim, 1));
  Holder follower(lim, 1);
  ASSERT_TRUE(wait_waiting(lim, 2));
  if (mode == "cancel") {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK);
  }
  EXPECT_TRUE(follower.wait_done()) << "the follower was not granted";
  if (sync_head.joinable()) sync_head.join();
  EXPECT_EQ(head_status.load(), mode == "cancel" ? PTL_ECANCELED : PTL_ETIMEDOUT);
  EXPECT_EQ(follower.rc(), PTL_OK);
  EXPECT_LT(follower.t_after(), t8 + kWindow - 500 * kMs)
      << "the follower waited for the window although it fitted once the head left";
}

TEST(CapiQueue, FollowerIsGrantedWhenTheHeadTimesOut) {
  head_leaves("sync timeout");
}
TEST(CapiQueue, FollowerIsGrantedWhenAnAsyncHeadTimesOut) {
  head_leaves("async timeout");
}
TEST(CapiQueue, FollowerIsGrantedWhenTheHeadIsCancelled) {
  head_leaves("cancel");
}

TEST(CapiQueue, PenaltyDuringAWindowWaitIsHonoured) {
  // The waiter sleeps until the window frees at ~t0 + 200 ms; a penalty arriving
  // meanwhile must push its grant out to the penalty's end.
  Lim lim = create_limiter(make_cfg(5, 1, 0.2));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const int64_t tp = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(lim, 400 * kMs), PTL_OK);
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_GE(waiter.t_after(), tp + 400 * kMs) << "granted during the penalty";
}

TEST(CapiQueue, TighterWindowDuringAWaitIsHonoured) {
  // 2 per 0.3 s, grants at t0 and t0 + ~100 ms; the waiter would get in at t0 + 300 ms.
  // Lowered to 1 per window while it sleeps, it must wait until the second grant has
  // left too.
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = create_limiter(make_cfg(5, 2, 0.3));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int64_t t1 = mono_ns();
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ptl_limiter_config one = make_cfg(5, 1, 0.3);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &one), PTL_OK);
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_GE(waiter.t_after(), t1 + kWindow) << "granted with 2 grants in the window, max 1";
}

TEST(CapiQueue, LongerWindowDuringAWaitIsHonoured) {
  Lim lim = create_limiter(make_cfg(5, 1, 0.1));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ptl_limiter_config longer = make_cfg(5, 1, 0.4);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &longer), PTL_OK);
  const int64_t reconfigured = mono_ns();
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  // The grant at t0 left the old 100 ms window no earlier than t0 + 100 ms; if the new
  // window was in force by then, the waiter must wait for t0 + 400 ms.
  if (reconfigured < t0 + 100 * kMs) {
    EXPECT_GE(waiter.t_after(), t0 + 400 * kMs)
        << "granted at +" << (waiter.t_after() - t0) / kMs << " ms under a 400 ms window";
  }
}

// ---- release ---------------------------------------------------------------------------

TEST(CapiRelease, DoubleReleaseIsEinvalAndChangesNothing) {
  Lim lim = create_limiter(make_cfg(3, 10, 10.0, 100));
  ptl_permit p = 0, other = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 4, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &other), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ptl_limiter_stats before = stats_of(lim);
  EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("permit")) << ptl_last_error();
  EXPECT_EQ(ptl_release_cost(lim, p, 1), PTL_EINVAL);
  ptl_limiter_stats after = stats_of(lim);
  expect_same_counts(before, after);
  EXPECT_EQ(after.in_flight, 1u);
  EXPECT_EQ(after.current_window_cost, 5u);
  EXPECT_EQ(ptl_release(lim, other), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiRelease, ZeroAndForgedPermitsAreEinval) {
  Lim lim = create_limiter(make_cfg(2));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ptl_limiter_stats before = stats_of(lim);
  for (ptl_permit bad : {ptl_permit{0}, p + 1, p - 1, p ^ (ptl_permit{1} << 40),
                         p ^ (ptl_permit{1} << 24), ~ptl_permit{0}, ptl_permit{1}}) {
    if (bad == p) continue;
    EXPECT_EQ(ptl_release(lim, bad), PTL_EINVAL) << bad;
    EXPECT_EQ(ptl_release_cost(lim, bad, 1), PTL_EINVAL) << bad;
  }
  expect_same_counts(before, stats_of(lim));
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(CapiRelease, PermitOfAnotherLimiterIsEinval) {
  Lim a = create_limiter(make_cfg(2));
  Lim b = create_limiter(make_cfg(2));
  ptl_permit pa = 0, pb = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &pa), PTL_OK);
  ASSERT_EQ(ptl_acquire(b, 0, &pb), PTL_OK);
  EXPECT_NE(pa, pb) << "permit values must be unique across limiters";
  ptl_limiter_stats sa = stats_of(a), sb = stats_of(b);
  EXPECT_EQ(ptl_release(b, pa), PTL_EINVAL);
  EXPECT_EQ(ptl_release(a, pb), PTL_EINVAL);
  EXPECT_EQ(ptl_release_cost(b, pa, 1), PTL_EINVAL);
  expect_same_counts(sa, stats_of(a));
  expect_same_counts(sb, stats_of(b));
  EXPECT_EQ(ptl_release(a, pa), PTL_OK);
  EXPECT_EQ(ptl_release(b, pb), PTL_OK);
}

TEST(CapiRelease, PermitsUniqueAcrossManyLimitersAndThreads) {
  constexpr int kLimiters = 8, kPer = 200;
  std::vector<Lim> lims;
  for (int i = 0; i < kLimiters; ++i) lims.push_back(create_limiter(make_cfg(kPer)));
  std::vector<std::vector<ptl_permit>> got(kLimiters);
  std::vector<std::thread> ts;
  for (int i = 0; i < kLimiters; ++i)
    ts.emplace_back([&, i] {
      for (int k = 0; k < kPer; ++k) {
        ptl_permit p = 0;
        ASSERT_EQ(ptl_acquire(lims[i], 0, &p), PTL_OK);
        got[i].push_back(p);
      }
    });
  for (auto& t : ts) t.join();
  std::vector<ptl_permit> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  std::vector<ptl_permit> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "duplicate permits";
  // Every cross-limiter release fails, every own release succeeds once.
  for (int i = 0; i < kLimiters; ++i)
    EXPECT_EQ(ptl_release(lims[(i + 1) % kLimiters], got[i][0]), PTL_EINVAL);
  for (int i = 0; i < kLimiters; ++i)
    for (ptl_permit p : got[i]) EXPECT_EQ(ptl_release(lims[i], p), PTL_OK);
  for (int i = 0; i < kLimiters; ++i) EXPECT_EQ(stats_of(lims[i]).in_flight, 0u);
}

TEST(CapiRelease, StalePermitNeverReleasesItsSuccessor) {
  // If a released permit's value came back at once, a late second release of it would
  // free someone else's permit. On both paths (with and without a window).
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = create_limiter(make_cfg(1, per_window, 1.0));
    for (int i = 0; i < 2000; ++i) {
      ptl_permit p = 0, q = 0;
      ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
      ASSERT_EQ(ptl_release(lim, p), PTL_OK);
      ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
      ASSERT_NE(p, q) << "iteration " << i;
      ASSERT_EQ(ptl_release(lim, p), PTL_EINVAL) << "iteration " << i;
      ASSERT_EQ(stats_of(lim).in_flight, 1u) << "a stale release freed the new permit";
      ASSERT_EQ(ptl_release(lim, q), PTL_OK);
    }
  }
}

TEST(CapiRelease, PermitsOutliveTheThreadThatTookThem) {
  // Permits taken by short-lived threads are released by another thread after those
  // threads exit; each exactly once.
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = create_limiter(make_cfg(200, per_window, 1.0));
    std::vector<ptl_permit> permits;
    std::mutex mu;
    for (int round = 0; round < 5; ++round) {
      std::vector<std::thread> ts;
      for (int t = 0; t < 10; ++t)
        ts.emplace_back([&] {
          for (int k = 0; k < 3; ++k) {
            ptl_permit p = 0;
            ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
            std::lock_guard<std::mutex> lock(mu);
            permits.push_back(p);
          }
        });
      for (auto& t : ts) t.join();
    }
    ASSERT_EQ(permits.size(), 150u);
    std::vector<ptl_permit> sorted = permits;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "duplicate permits";
    EXPECT_EQ(stats_of(lim).in_flight, 150u);
    std::thread releaser([&] {
      for (ptl_permit p : permits) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
      for (ptl_permit p : permits) EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
    });
    releaser.join();
    ptl_limiter_stats s = stats_of(lim);
    EXPECT_EQ(s.in_flight, 0u);
    EXPECT_EQ(s.total_acquired, 150u);
  }
}

// ---- costs -----------------------------------------------------------------------------

TEST(CapiCost, AboveMaxIsEinval) {
  Lim lim = create_limiter(make_cfg(5, 0, 1.0, 10));
  ptl_permit p = 0;
  ptl_limiter_stats before = stats_of(lim);
  EXPECT_EQ(ptl_acquire_cost(lim, 11, 0, &p), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("cost")) << ptl_last_error();
  EXPECT_EQ(ptl_acquire_cost(lim, 11, -1, &p), PTL_EINVAL) << "must not wait forever";
  EXPECT_EQ(ptl_acquire_cost(lim, UINT64_MAX, -1, &p), PTL_EINVAL);
  std::atomic<int> calls{0};
  uint64_t ticket = 0;
  EXPECT_EQ(ptl_acquire_async(
                lim, 11, -1,
                [](void* u, int, ptl_permit) { static_cast<std::atomic<int>*>(u)->fetch_add(1); },
                &calls, &ticket),
            PTL_EINVAL);
  expect_same_counts(before, stats_of(lim));
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK) << "exactly the max is fine";
  EXPECT_EQ(stats_of(lim).current_window_cost, 10u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(calls.load(), 0) << "the callback of a failed ptl_acquire_async ran";
}

TEST(CapiCost, PlainAcquireCostsOneUnit) {
  Lim lim = create_limiter(make_cfg(5, 0, 10.0, 3));
  ptl_permit p[4];
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ptl_acquire(lim, 0, &p[i]), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 3u);
  EXPECT_EQ(ptl_acquire(lim, 0, &p[3]), PTL_EAGAIN) << "cost limit 3 let a 4th unit in";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ptl_release(lim, p[i]), PTL_OK);
}

TEST(CapiCost, CostIsIgnoredWithoutWeightedLimit) {
  Lim lim = create_limiter(make_cfg(2));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 1000000, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release_cost(lim, p, 5), PTL_OK);
}

TEST(CapiCost, ReleaseCostCorrectsTheWindow) {
  Lim lim = create_limiter(make_cfg(5, 0, 10.0, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 5, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 5u);
  ASSERT_EQ(ptl_release_cost(lim, p, 2), PTL_OK);  // down
  EXPECT_EQ(stats_of(lim).current_window_cost, 2u);
  ASSERT_EQ(ptl_acquire_cost(lim, 3, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 5u);
  ASSERT_EQ(ptl_release_cost(lim, p, 7), PTL_OK);  // up
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.current_window_cost, 9u);
  EXPECT_EQ(s.in_flight, 0u);
  // 9 of 10 used: a cost of 2 does not fit, a cost of 1 does.
  EXPECT_EQ(ptl_acquire_cost(lim, 2, 0, &p), PTL_EAGAIN);
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, p, 0), PTL_OK);  // it cost nothing after all
  EXPECT_EQ(stats_of(lim).current_window_cost, 9u);
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);  // plain release keeps the stated cost
  EXPECT_EQ(stats_of(lim).current_window_cost, 10u);
}

TEST(CapiCost, DownwardCorrectionLetsAWaiterIn) {
  Lim lim = create_limiter(make_cfg(5, 0, 30.0, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK);
  Holder waiter(lim, 6);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_EQ(ptl_release_cost(lim, p, 3), PTL_OK);  // 3 + 6 <= 10: the waiter fits now
  ASSERT_TRUE(waiter.wait_done(5 * kSec)) << "a downward correction did not wake the waiter";
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 9u);
}

TEST(CapiCost, CostWindowSlides) {
  Lim lim = create_limiter(make_cfg(5, 0, 0.15, 10));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ASSERT_EQ(ptl_acquire_cost(lim, 4, 20 * kSec, &p), PTL_OK);
  EXPECT_GE(mono_ns(), t0 + 150 * kMs) << "cost granted before the window slid";
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  const ptl_limiter_stats s = stats_of(lim);
  if (mono_ns() < t0 + 300 * kMs) {  // the cost-4 grant (after t0 + 150 ms) still counts
    EXPECT_EQ(s.current_window_cost, 4u);
  }
}

TEST(CapiCost, CorrectionAfterTheGrantLeftTheWindowCostsNothingNow) {
  // A permit held longer than the window: its grant has left the window, so correcting
  // its cost on release must not leave cost behind that never expires.
  Lim lim = create_limiter(make_cfg(10, 0, 0.1, 10));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 5, 0, &p), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  ASSERT_EQ(ptl_release_cost(lim, p, 9), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, 0u);
  ptl_permit q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 10, 0, &q), PTL_OK) << "the late correction still counts";
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(CapiCost, HugeCorrectionsDoNotWrapTheWindow) {
  // A release_cost far above the limit fills the window; it must not wrap the window's
  // cost sum around to "empty".
  Lim lim = create_limiter(make_cfg(10, 0, 30.0, 10));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, p, uint64_t{1} << 63), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim, q, uint64_t{1} << 63), PTL_OK);  // 2^64 would wrap to 0
  ptl_permit r = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &r, &retry), PTL_EAGAIN) << "the window's cost wrapped around";
  EXPECT_GT(retry, 0);
  EXPECT_EQ(ptl_acquire_cost(lim, 1, 0, &r), PTL_EAGAIN);
  EXPECT_GE(stats_of(lim).current_window_cost, 10u);

  Lim lim2 = create_limiter(make_cfg(10, 0, 30.0, 10));
  ASSERT_EQ(ptl_acquire_cost(lim2, 1, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release_cost(lim2, p, UINT64_MAX), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim2, &r, nullptr), PTL_EAGAIN) << "UINT64_MAX + 1 wrapped to 0";
}

TEST(CapiCost, HugeLimitsDoNotOverflow) {
  Lim lim = create_limiter(make_cfg(10, 0, 30.0, UINT64_MAX));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, UINT64_MAX - 1, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire_cost(lim, 5, 0, &q), PTL_EAGAIN) << "cost sum overflowed past the max";
  ASSERT_EQ(ptl_acquire_cost(lim, 1, 0, &q), PTL_OK) << "exactly UINT64_MAX fits";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  EXPECT_EQ(stats_of(lim).current_window_cost, UINT64_MAX);

  Lim lim2 = create_limiter(make_cfg(UINT32_MAX, UINT64_MAX, 1.0));
  ASSERT_EQ(ptl_acquire(lim2, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(lim2, p), PTL_OK);
}

// ---- penalize --------------------------------------------------------------------------

TEST(CapiPenalize, BlocksEverySharer) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(4);
  ASSERT_EQ(ptl_registry_register(reg, "p", &cfg, 0), PTL_OK);
  Lim h1, h2;
  ASSERT_EQ(ptl_registry_get(reg, "p", h1.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get(reg, "p", h2.out()), PTL_OK);
  ptl_permit held = 0, p = 0;
  ASSERT_EQ(ptl_acquire(h2, 0, &held), PTL_OK);

  constexpr int64_t kPenalty = 300 * kMs;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(h1, kPenalty), PTL_OK);
  int64_t retry = 0;
  int rc = ptl_try_acquire(h2, &p, &retry);
  if (refused_before(h2, rc, p, t0 + kPenalty)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, kPenalty);
  }
  rc = ptl_acquire(h1, 0, &p);
  refused_before(h1, rc, p, t0 + kPenalty);
  EXPECT_EQ(ptl_release(h2, held), PTL_OK) << "permits in flight are unaffected";
  rc = ptl_try_acquire(h2, &p, nullptr);
  refused_before(h2, rc, p, t0 + kPenalty);  // a release must not end the penalty
  ASSERT_EQ(ptl_acquire(h2, 20 * kSec, &p), PTL_OK);
  EXPECT_GE(mono_ns(), t0 + kPenalty) << "granted during the penalty";
  EXPECT_EQ(ptl_release(h1, p), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(h1, &p, nullptr), PTL_OK);
  EXPECT_EQ(ptl_release(h1, p), PTL_OK);
}

TEST(CapiPenalize, HoldsBackAnAlreadyQueuedWaiter) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(lim, 200 * kMs), PTL_OK);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_GE(waiter.t_after(), t0 + 200 * kMs) << "the queued waiter was granted during the penalty";
}

TEST(CapiPenalize, ShorterPenaltyDoesNotShortenALongerOne) {
  Lim lim = create_limiter(make_cfg(2));
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(lim, 300 * kMs), PTL_OK);
  ASSERT_EQ(ptl_limiter_penalize(lim, 10 * kMs), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  ptl_permit p = 0;
  const int rc = ptl_try_acquire(lim, &p, nullptr);
  refused_before(lim, rc, p, t0 + 300 * kMs);  // the shorter penalty must not cut it short
  ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK);
  EXPECT_GE(mono_ns(), t0 + 300 * kMs);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(CapiPenalize, BadAndEdgeValues) {
  Lim lim = create_limiter(make_cfg(2));
  EXPECT_EQ(ptl_limiter_penalize(lim, -1), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_EQ(ptl_limiter_penalize(lim, INT64_MIN), PTL_EINVAL);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK) << "a rejected penalty took effect";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_limiter_penalize(lim, 0), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK) << "a zero penalty blocked";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);

  // A huge penalty must not overflow into the past.
  Lim lim2 = create_limiter(make_cfg(2));
  ASSERT_EQ(ptl_limiter_penalize(lim2, INT64_MAX), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim2, &p, &retry), PTL_EAGAIN) << "INT64_MAX penalty overflowed";
  EXPECT_GT(retry, 0);
  EXPECT_EQ(ptl_acquire(lim2, 20 * kMs, &p), PTL_ETIMEDOUT);
}

// ---- reconfigure -----------------------------------------------------------------------

TEST(CapiReconfigure, LoweringBelowInFlightHoldsNewAcquires) {
  Lim lim = create_limiter(make_cfg(4));
  ptl_permit p[4];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  ptl_limiter_config c2 = make_cfg(2);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c2), PTL_OK);
  EXPECT_EQ(stats_of(lim).config.max_concurrent, 2u);
  EXPECT_EQ(stats_of(lim).in_flight, 4u);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  for (int i = 0; i < 2; ++i) {  // 4 -> 3 -> 2 in flight: still no room under 2
    ASSERT_EQ(ptl_release(lim, p[i]), PTL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_FALSE(waiter.done()) << "granted with " << 3 - i << " in flight and max 2";
    ptl_permit q = 0;
    EXPECT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_EAGAIN);
  }
  ASSERT_EQ(ptl_release(lim, p[2]), PTL_OK);  // 1 in flight: room
  ASSERT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 2u);
  waiter.finish();
  EXPECT_EQ(ptl_release(lim, p[3]), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiReconfigure, RaisingWakesWaitersAtOnce) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Holder w1(lim), w2(lim);
  ASSERT_TRUE(wait_waiting(lim, 2));
  ptl_limiter_config c3 = make_cfg(3);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c3), PTL_OK);
  ASSERT_TRUE(w1.wait_done(5 * kSec)) << "raising max_concurrent did not wake the waiters";
  ASSERT_TRUE(w2.wait_done(5 * kSec));
  EXPECT_EQ(w1.rc(), PTL_OK);
  EXPECT_EQ(w2.rc(), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  w1.finish();
  w2.finish();
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
}

TEST(CapiReconfigure, RemovingTheWindowWakesAWindowBlockedWaiter) {
  Lim lim = create_limiter(make_cfg(5, 1, 30.0));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ptl_limiter_config nowin = make_cfg(5, 0, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &nowin), PTL_OK);
  ASSERT_TRUE(waiter.wait_done(5 * kSec)) << "still waiting on a window that was removed";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST(CapiReconfigure, KeepsWindowHistory) {
  Lim lim = create_limiter(make_cfg(10, 2, 30.0));
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
  ptl_limiter_config c1 = make_cfg(10, 1, 30.0);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &c1), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN);
  // A shorter window ages the same history out sooner.
  ptl_limiter_config shortw = make_cfg(10, 3, 0.1);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &shortw), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_EAGAIN) << "history lost on window change";
  ASSERT_EQ(ptl_acquire(lim, 5 * kSec, &p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(CapiReconfigure, FastPermitsSurviveModeSwitches) {
  // Permits taken on a concurrency-only limiter stay counted and releasable after a
  // window is added, and after it is removed again.
  Lim lim = create_limiter(make_cfg(3));
  ptl_permit p[3];
  for (auto& x : p) ASSERT_EQ(ptl_acquire(lim, 0, &x), PTL_OK);
  ptl_limiter_config win = make_cfg(3, 100, 1.0, 1000);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &win), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  ptl_permit q = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_EAGAIN);
  ASSERT_EQ(ptl_release(lim, p[0]), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  ptl_limiter_config plain = make_cfg(3);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &plain), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 3u);
  ptl_permit r = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &r, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, p[0]), PTL_EINVAL) << "double release after a mode switch";
  EXPECT_EQ(ptl_release(lim, p[1]), PTL_OK);
  EXPECT_EQ(ptl_release(lim, p[2]), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

// ---- statistics ------------------------------------------------------------------------

TEST(CapiStats, ExactCounts) {
  Lim lim = create_limiter(make_cfg(2, 0, 1.0, 0));
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
  ptl_limiter_stats s2 = stats_of(lim);
  EXPECT_EQ(s2.total_rejected + s2.total_timeouts, 4u);

  // Two sync timeouts and one async timeout.
  EXPECT_EQ(ptl_acquire(lim, 5 * kMs, &c), PTL_ETIMEDOUT);
  EXPECT_EQ(ptl_acquire_cost(lim, 1, 5 * kMs, &c), PTL_ETIMEDOUT);
  std::atomic<int> st{1};
  uint64_t ticket = 0;
  ASSERT_EQ(
      ptl_acquire_async(
          lim, 1, 5 * kMs,
          [](void* u, int status, ptl_permit) { static_cast<std::atomic<int>*>(u)->store(status); },
          &st, &ticket),
      PTL_OK);
  ASSERT_TRUE(wait_until([&] { return st.load() != 1; }));
  EXPECT_EQ(st.load(), PTL_ETIMEDOUT);
  s = stats_of(lim);
  EXPECT_EQ(s.total_timeouts - s2.total_timeouts, 3u);
  EXPECT_EQ(s.total_acquired, 2u);
  EXPECT_EQ(s.waiting, 0u);

  // One cancelled async acquire.
  st = 1;
  ASSERT_EQ(
      ptl_acquire_async(
          lim, 1, -1,
          [](void* u, int status, ptl_permit) { static_cast<std::atomic<int>*>(u)->store(status); },
          &st, &ticket),
      PTL_OK);
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
  const int64_t all_waiting = mono_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t released = mono_ns();
  ASSERT_EQ(ptl_release(lim, a), PTL_OK);
  for (auto& t : ws) t.join();
  EXPECT_EQ(granted.load(), 3);
  s = stats_of(lim);
  EXPECT_EQ(s.total_acquired, 5u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.in_flight, 1u);
  // Each of the three waited at least from all_waiting to released.
  EXPECT_GE(s.total_wait_ns, static_cast<uint64_t>(3 * (released - all_waiting)));
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(ptl_release(lim, b), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiStats, WindowCountIsEvictedAtTheTimeOfTheCall) {
  Lim lim = create_limiter(make_cfg(10, 5, 0.2, 50));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ptl_acquire_cost(lim, 4, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  ptl_limiter_stats s = stats_of(lim);
  if (mono_ns() < t0 + 200 * kMs) {
    EXPECT_EQ(s.current_window_count, 3u);
    EXPECT_EQ(s.current_window_cost, 12u);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(230));
  s = stats_of(lim);  // no acquire since: the stats call itself evicts
  EXPECT_EQ(s.current_window_count, 0u);
  EXPECT_EQ(s.current_window_cost, 0u);
  EXPECT_EQ(s.total_acquired, 3u);
}

TEST(CapiStats, TimedOutAcquireLeavesNoTraceInTheWindow) {
  Lim lim = create_limiter(make_cfg(10, 2, 0.2));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  int rc = ptl_acquire(lim, 20 * kMs, &p);
  refused_before(lim, rc, p, t0 + 200 * kMs, PTL_ETIMEDOUT);
  rc = ptl_try_acquire(lim, &p, nullptr);
  refused_before(lim, rc, p, t0 + 200 * kMs);
  const uint64_t count = stats_of(lim).current_window_count;
  if (mono_ns() < t0 + 200 * kMs) {
    EXPECT_EQ(count, 2u) << "the timed-out acquire was counted in the window";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(230));
  EXPECT_EQ(stats_of(lim).current_window_count, 0u);
  ptl_permit q = 0, r = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &q, nullptr), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(lim, &r, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(CapiLimiter, RefAndUnref) {
  ptl_limiter* raw = nullptr;
  ptl_limiter_config cfg = make_cfg(1);
  ASSERT_EQ(ptl_limiter_create(&cfg, &raw), PTL_OK);
  ptl_limiter_ref(raw);
  ptl_limiter_ref(raw);
  ptl_limiter_unref(raw);
  ptl_limiter_unref(raw);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(raw, 0, &p), PTL_OK) << "freed before the last unref";
  EXPECT_EQ(ptl_release(raw, p), PTL_OK);
  ptl_limiter_unref(raw);  // the last one: ASan reports a leak otherwise
}

TEST(CapiLimiter, CreatedLimitersArePrivate) {
  Lim a = create_limiter(make_cfg(1));
  Lim b = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire(b, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(a, p), PTL_OK);
  EXPECT_EQ(ptl_release(b, q), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
