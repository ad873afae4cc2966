// SPDX-License-Identifier: MIT
// The local limiter on simulated time (ManualClock): windows, timeouts, penalties and
// asynchronous deadlines, to the nanosecond and without sleeping. What a test waits for in
// real time is only another thread's reaction to a step of the simulated clock, bounded by
// a generous real-time guard, never a duration the outcome depends on.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

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
using ptl::core::UnitAmount;

constexpr Nanos kSecond = 1'000'000'000;
constexpr Nanos kDay = 86'400 * kSecond;
constexpr std::chrono::seconds kRealGuard{10};  // only a hang ever takes this long

Demand requests(const UnitAmount* a) {
  return Demand{a, 1, false};
}

Status try_once(const LimiterPtr& lim, PermitId* out, Nanos* retry_after = nullptr) {
  const UnitAmount one{"requests", 1};
  Nanos ignored = 0;
  return lim->try_acquire(requests(&one), out, retry_after ? retry_after : &ignored);
}

// Polls (in real time) until the limiter reports `waiting` waiters.
bool wait_for_waiters(const LimiterPtr& lim, uint32_t waiting) {
  const auto until = std::chrono::steady_clock::now() + kRealGuard;
  while (lim->stats().waiting != waiting) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(SimulatedTime, AWindowOpensExactlyWhenItsOldestGrantLeavesIt) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 2, kSecond}});
  PermitId p = 0;
  ASSERT_EQ(try_once(lim, &p), Status::kOk);
  lim->release(p, std::nullopt);
  clock.advance(kSecond / 4);
  ASSERT_EQ(try_once(lim, &p), Status::kOk);
  lim->release(p, std::nullopt);

  // Windows include both ends: a grant at t counts in every window [s, s + W] holding t,
  // so it leaves at t + W + 1 ns.
  Nanos retry_after = 0;
  EXPECT_EQ(try_once(lim, &p, &retry_after), Status::kAgain);
  EXPECT_EQ(retry_after, 3 * kSecond / 4 + 1) << "the first grant leaves the window then";
  clock.advance(retry_after - 1);
  EXPECT_EQ(try_once(lim, &p), Status::kAgain) << "one nanosecond early";
  clock.advance(1);
  ASSERT_EQ(try_once(lim, &p), Status::kOk);
  lim->release(p, std::nullopt);
  EXPECT_EQ(try_once(lim, &p, &retry_after), Status::kAgain);
  EXPECT_EQ(retry_after, kSecond / 4) << "now the second grant is the oldest";
}

TEST(SimulatedTime, ADayWindowIsTestedInAnInstant) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 10'000, kDay}});
  for (int i = 0; i < 10'000; ++i) {
    PermitId p = 0;
    ASSERT_EQ(try_once(lim, &p), Status::kOk) << "grant " << i;
    lim->release(p, std::nullopt);
    if (i % 1'000 == 999) clock.advance(kSecond);  // spread over ten seconds
  }
  // A day's log stays small because grants within W/1024 (84 s here) of an entry's opening
  // share that entry, which leaves the window with its newest grant: here all ten thousand
  // leave together, when those of the tenth second do. Late by at most W/1024, never early.
  PermitId p = 0;
  Nanos retry_after = 0;
  EXPECT_EQ(try_once(lim, &p, &retry_after), Status::kAgain);
  EXPECT_EQ(retry_after, kDay - kSecond + 1) << "9 s + W + 1 ns, from 10 s";
  EXPECT_EQ(lim->usage("requests", kDay).used, 10'000u);
  clock.advance(retry_after - 1);
  EXPECT_EQ(try_once(lim, &p), Status::kAgain) << "one nanosecond early";
  clock.advance(1);
  ASSERT_EQ(try_once(lim, &p), Status::kOk) << "the day's grants have left it";
  lim->release(p, std::nullopt);
  EXPECT_EQ(lim->usage("requests", kDay).used, 1u);
}

TEST(SimulatedTime, ABlockedAcquireIsGrantedWhenTheWindowOpens) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 1, 60 * kSecond}});
  PermitId first = 0;
  ASSERT_EQ(try_once(lim, &first), Status::kOk);
  lim->release(first, std::nullopt);

  std::promise<Nanos> granted_at;
  std::future<Nanos> granted = granted_at.get_future();
  std::thread waiter([&] {
    const UnitAmount one{"requests", 1};
    PermitId p = 0;
    const Status st = lim->acquire(requests(&one), -1, &p);
    granted_at.set_value(st == Status::kOk ? clock.now() : -1);
    if (st == Status::kOk) lim->release(p, std::nullopt);
  });
  ASSERT_TRUE(wait_for_waiters(lim, 1));
  clock.advance(60 * kSecond);
  EXPECT_EQ(granted.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout)
      << "granted with the first grant still in the window (it leaves at 60 s + 1 ns)";
  clock.advance(1);
  const bool ready = granted.wait_for(kRealGuard) == std::future_status::ready;
  if (!ready) clock.advance(kDay);  // free the waiter, so the test fails instead of hanging
  waiter.join();
  ASSERT_TRUE(ready);
  EXPECT_EQ(granted.get(), clock.now());
}

TEST(SimulatedTime, ATimeoutEndsTheWaitAtItsDeadlineHoldingNothing) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 1, 0}});  // one at a time
  PermitId held = 0;
  ASSERT_EQ(try_once(lim, &held), Status::kOk);

  std::promise<Status> outcome;
  std::thread waiter([&] {
    const UnitAmount one{"requests", 1};
    PermitId p = 0;
    outcome.set_value(lim->acquire(requests(&one), 5 * kSecond, &p));
  });
  std::future<Status> result = outcome.get_future();
  ASSERT_TRUE(wait_for_waiters(lim, 1));
  clock.advance(5 * kSecond - 1);
  EXPECT_EQ(result.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout)
      << "one nanosecond before the deadline";
  clock.advance(1);
  ASSERT_EQ(result.wait_for(kRealGuard), std::future_status::ready);
  EXPECT_EQ(result.get(), Status::kTimedOut);
  waiter.join();
  EXPECT_EQ(lim->stats().in_flight, 1u) << "only the first permit is held";
  EXPECT_EQ(lim->stats().total_timeouts, 1u);
  lim->release(held, std::nullopt);
}

TEST(SimulatedTime, AnAsyncDeadlineFiresWhenTheClockReachesIt) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 1, 0}});
  PermitId held = 0;
  ASSERT_EQ(try_once(lim, &held), Status::kOk);

  struct Outcome {
    std::atomic<int> calls{0};
    std::atomic<int> status{1};
  } out;
  const UnitAmount one{"requests", 1};
  lim->acquire_async(requests(&one), 2 * kSecond,
                     {[](void* u, int status, PermitId) {
                        auto* o = static_cast<Outcome*>(u);
                        o->status = status;
                        o->calls.fetch_add(1);
                      },
                      &out},
                     nullptr);
  EXPECT_EQ(clock.pending_timers(), 1u) << "the deadline is a timer of the clock";
  clock.advance(2 * kSecond - 1);
  EXPECT_EQ(out.calls.load(), 0);
  clock.advance(1);  // runs the timer on this thread, so the callback has run on return
  EXPECT_EQ(out.calls.load(), 1);
  EXPECT_EQ(out.status.load(), static_cast<int>(Status::kTimedOut));
  EXPECT_EQ(lim->stats().waiting, 0u);
  lim->release(held, std::nullopt);
}

TEST(SimulatedTime, APenaltyHoldsEveryGrantBackUntilItEnds) {
  ManualClock clock;
  LimiterPtr lim = make_local(clock, {{"requests", 100, 60 * kSecond}});
  lim->penalize(3 * kSecond);
  PermitId p = 0;
  Nanos retry_after = 0;
  EXPECT_EQ(try_once(lim, &p, &retry_after), Status::kAgain);
  EXPECT_EQ(retry_after, 3 * kSecond);
  clock.advance(3 * kSecond - 1);
  EXPECT_EQ(try_once(lim, &p), Status::kAgain);
  clock.advance(1);
  ASSERT_EQ(try_once(lim, &p), Status::kOk);
  lim->release(p, std::nullopt);
}

}  // namespace
}  // namespace ptl_test
