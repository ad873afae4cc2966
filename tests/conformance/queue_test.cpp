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
  Lim lim = make(make_cfg(5, 1, 2.0));
  one_grant(lim);
  const int64_t t0 = mono_ns();
  ptl_permit p = 0;
  EXPECT_EQ(ptl_acquire(lim, 50 * kMs, &p), PTL_ETIMEDOUT);
  const int64_t took = mono_ns() - t0;
  EXPECT_GE(took, 50 * kMs);
  EXPECT_LT(took, 1000 * kMs) << "slept to the window's end instead of the timeout";
  EXPECT_EQ(stats_of(lim).waiting, 0u);
}

// A head waiter that cannot fit leaves (timeout, cancel); the follower, which fits, must
// then be granted at once rather than at the next unrelated event (the window's end).
void head_leaves(ptl_limiter* lim, const std::string& mode) {
  constexpr int64_t kWindow = 2 * kSec;
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
  EXPECT_TRUE(wait_until([&] { return head_status.load() != 1; }));
  EXPECT_EQ(head_status.load(), mode == "cancel" ? PTL_ECANCELED : PTL_ETIMEDOUT);
  EXPECT_EQ(follower.rc(), PTL_OK);
  EXPECT_LT(follower.t_after(), t8 + kWindow - 500 * kMs)
      << "the follower waited for the window although it fitted once the head left";
}

TEST_P(Queue, FollowerIsGrantedWhenTheHeadTimesOut) {
  head_leaves(make(make_cfg(10, 0, 2.0, 10)), "sync timeout");
}
TEST_P(Queue, FollowerIsGrantedWhenAnAsyncHeadTimesOut) {
  head_leaves(make(make_cfg(10, 0, 2.0, 10)), "async timeout");
}
TEST_P(Queue, FollowerIsGrantedWhenTheHeadIsCancelled) {
  head_leaves(make(make_cfg(10, 0, 2.0, 10)), "cancel");
}

TEST_P(Queue, PenaltyDuringAWindowWaitIsHonoured) {
  // The waiter sleeps until the window frees at ~t0 + 200 ms; a penalty arriving
  // meanwhile must push its grant out to the penalty's end.
  Lim lim = make(make_cfg(5, 1, 0.2));
  one_grant(lim);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const int64_t tp = mono_ns();
  ASSERT_EQ(ptl_limiter_penalize(lim, 400 * kMs), PTL_OK);
  EXPECT_GE(granted_at(waiter), tp + 400 * kMs) << "granted during the penalty";
}

TEST_P(Queue, TighterWindowDuringAWaitIsHonoured) {
  // 2 per 0.3 s, grants at t0 and t0 + ~100 ms; the waiter would get in at t0 + 300 ms.
  // Lowered to 1 per window while it sleeps, it must wait until the second grant has
  // left too.
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = make(make_cfg(5, 2, 0.3));
  one_grant(lim);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int64_t t1 = mono_ns();
  one_grant(lim);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  reconfigure(lim, make_cfg(5, 1, 0.3));
  EXPECT_GE(granted_at(waiter), t1 + kWindow) << "granted with 2 grants in the window, max 1";
}

TEST_P(Queue, LongerWindowDuringAWaitIsHonoured) {
  Lim lim = make(make_cfg(5, 1, 0.1));
  const int64_t t0 = mono_ns();
  one_grant(lim);
  Holder waiter(lim);
  ASSERT_TRUE(wait_waiting(lim, 1));
  reconfigure(lim, make_cfg(5, 1, 0.4));
  const int64_t reconfigured = mono_ns();
  const int64_t granted = granted_at(waiter);
  // The grant at t0 left the old 100 ms window no earlier than t0 + 100 ms; if the new
  // window was in force by then, the waiter must wait for t0 + 400 ms.
  if (reconfigured < t0 + 100 * kMs) {
    EXPECT_GE(granted, t0 + 400 * kMs)
        << "granted at +" << (granted - t0) / kMs << " ms under a 400 ms window";
  }
}

}  // namespace
}  // namespace ptl_test
