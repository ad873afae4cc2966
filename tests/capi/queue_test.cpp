// Queue discipline through the C ABI: waiters that leave, and conditions that change while
// a waiter sleeps.
#include <string>

#include "capi_util.hpp"
#include "limiter_util.hpp"

namespace ptl_test {
namespace {

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

}  // namespace
}  // namespace ptl_test
