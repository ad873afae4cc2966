// SPDX-License-Identifier: MIT
// Queue discipline on every backend: waiters that leave, and conditions that change while
// a waiter sleeps.
#include <string>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Queue);

// Reconfigures lim to cfg.
void reconfigure(ptl_limiter* lim, const ptl_limiter_config& cfg) {
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &cfg), PTL_OK) << ptl_last_error();
}

// Checks that the waiter was granted and returns when (its t_after).
int64_t granted_at(Holder& waiter) {
  EXPECT_TRUE(waiter.wait_done());
  EXPECT_EQ(waiter.rc(), PTL_OK) << ptl_status_name(waiter.rc());
  return waiter.t_after();
}

TEST_P(Queue, TimeoutShorterThanTheWindowWaitIsHonoured) {
  use_test_time();
  Lim lim = make(make_cfg(5, 1, 2.0));
  one_grant(lim);
  const int64_t t0 = now();
  Holder timed(lim, 1, 50 * kMs);
  if (simulated()) {
    ASSERT_TRUE(wait_waiting(lim, 1));
  }
  ASSERT_TRUE(ends_at(timed, t0 + 50 * kMs));
  EXPECT_EQ(timed.rc(), PTL_ETIMEDOUT);
  EXPECT_LT(timed.t_after() - t0, 1000 * kMs) << "slept to the window's end instead";
  EXPECT_EQ(stats_of(lim).waiting, 0u);
}

// A head waiter that cannot fit leaves (timeout, cancel) 100 ms after it came; the
// follower, which fits, must then be granted at once rather than at the next unrelated
// event (the window's end).
// The test is on its backend's test time (use_test_time) already.
void head_leaves(Conformance& test, ptl_limiter* lim, const std::string& mode) {
  constexpr int64_t kWindow = 2 * kSec;
  ptl_permit p = 0;
  const int64_t t8 = test.now();
  ASSERT_EQ(ptl_acquire_cost(lim, 8, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  std::atomic<int> head_status{1};
  uint64_t ticket = 0;
  std::thread sync_head;
  struct Joiner {  // joins on every exit, early ASSERT returns included
    std::thread& t;
    ~Joiner() {
      if (!t.joinable()) return;
      if (limiter_time().unblock) limiter_time().unblock();  // simulated time: its timeout
      t.join();
    }
  } joiner{sync_head};
  const int64_t t_head = test.now();
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
  test.advance_to(t_head + 100 * kMs);  // the timeouts end, or the test cancels
  if (mode == "cancel") {
    ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK);
  }
  EXPECT_TRUE(follower.wait_done()) << "the follower was not granted";
  if (sync_head.joinable()) sync_head.join();
  EXPECT_TRUE(wait_until([&] { return head_status.load() != 1; }));
  EXPECT_EQ(head_status.load(), mode == "cancel" ? PTL_ECANCELED : PTL_ETIMEDOUT);
  EXPECT_EQ(follower.rc(), PTL_OK);
  EXPECT_LT(follower.t_after(), t8 + kWindow - 500 * kMs)
      << "the follower waited for the window although it fitted once the head left";
  if (test.simulated()) {
    EXPECT_EQ(follower.t_after(), t_head + 100 * kMs) << "not granted when the head left";
  }
}

TEST_P(Queue, FollowerIsGrantedWhenTheHeadTimesOut) {
  use_test_time();
  head_leaves(*this, make(make_cfg(10, 0, 2.0, 10)), "sync timeout");
}
TEST_P(Queue, FollowerIsGrantedWhenAnAsyncHeadTimesOut) {
  use_test_time();
  head_leaves(*this, make(make_cfg(10, 0, 2.0, 10)), "async timeout");
}
TEST_P(Queue, FollowerIsGrantedWhenTheHeadIsCancelled) {
  use_test_time();
  head_leaves(*this, make(make_cfg(10, 0, 2.0, 10)), "cancel");
}

TEST_P(Queue, PenaltyDuringAWindowWaitIsHonoured) {
  // The waiter sleeps until the window frees at ~t0 + 200 ms; a penalty arriving
  // meanwhile must push its grant out to the penalty's end.
  use_test_time();
  Lim lim = make(make_cfg(5, 1, 0.2));
  one_grant(lim);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  advance(30 * kMs);
  const int64_t tp = now();
  ASSERT_EQ(ptl_limiter_penalize(lim, 400 * kMs), PTL_OK);
  ASSERT_TRUE(ends_at(waiter, tp + 400 * kMs)) << "granted during the penalty, or late";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST_P(Queue, TighterWindowDuringAWaitIsHonoured) {
  // 2 per 0.3 s, grants at t0 and t0 + ~100 ms; the waiter would get in at t0 + 300 ms.
  // Lowered to 1 per window while it sleeps, it must wait until the second grant has
  // left too.
  use_test_time();
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = make(make_cfg(5, 2, 0.3));
  one_grant(lim);
  advance(100 * kMs);
  const int64_t t1 = now();
  one_grant(lim);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  reconfigure(lim, make_cfg(5, 1, 0.3));
  // The second grant leaves the window at t1 + W + 1 ns.
  ASSERT_TRUE(ends_at(waiter, t1 + kWindow + 1)) << "granted with 2 grants in the window, max 1";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST_P(Queue, LongerWindowDuringAWaitIsHonoured) {
  use_test_time();
  Lim lim = make(make_cfg(5, 1, 0.1));
  const int64_t t0 = now();
  one_grant(lim);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  reconfigure(lim, make_cfg(5, 1, 0.4));
  const int64_t reconfigured = now();
  // The grant at t0 left the old 100 ms window no earlier than t0 + 100 ms + 1 ns; if the
  // new window was in force by then, the waiter must wait for t0 + 400 ms + 1 ns.
  if (reconfigured < t0 + 100 * kMs) {
    ASSERT_TRUE(ends_at(waiter, t0 + 400 * kMs + 1)) << "granted under the old window";
  }
  const int64_t granted = granted_at(waiter);
  EXPECT_GE(granted, t0 + 100 * kMs + 1);
}

}  // namespace
}  // namespace ptl_test
