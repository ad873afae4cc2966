// ptl_acquire_async and ptl_cancel on shm://: waiters queue in the segment like any
// other; the process's agent thread calls them back.
#include <vector>

#include "async_util.hpp"
#include "shm_util.hpp"

namespace ptl_test {
namespace {

TEST(ShmAsync, ImmediateGrantRunsInline) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1));
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_NE(ticket, 0u);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND) << "cancel of a completed ticket";
  Req busy;
  ASSERT_EQ(busy.start(lim, 1, 0, nullptr), PTL_OK);  // timeout 0, no room: EAGAIN callback
  EXPECT_EQ(busy.calls.load(), 1);
  EXPECT_EQ(busy.status.load(), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
}

TEST(ShmAsync, QueuedWaiterIsGrantedOnReleaseByTheAgent) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  ASSERT_EQ(r.start(lim, 1, -1, nullptr), PTL_OK);
  EXPECT_EQ(stats_of(lim).waiting, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 0);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_NE(r.cb_thread, std::this_thread::get_id());
  EXPECT_EQ(stats_of(lim).in_flight, 1u);
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 1) << "called back twice";
}

TEST(ShmAsync, TimeoutCancelAndFifoWithSyncWaiters) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req timed;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(timed.start(lim, 1, 50 * kMs, nullptr), PTL_OK);
  ASSERT_TRUE(timed.wait());
  EXPECT_EQ(timed.status.load(), PTL_ETIMEDOUT);
  EXPECT_GE(timed.t_cb.load(), t0 + 50 * kMs) << "timed out early";
  EXPECT_EQ(stats_of(lim).waiting, 0u);

  Req first, cancelled, last;
  uint64_t t_first = 0, t_cancel = 0, t_last = 0;
  ASSERT_EQ(first.start(lim, 1, -1, &t_first), PTL_OK);
  Holder sync_second(lim);
  ASSERT_TRUE(wait_waiting(lim, 2));
  ASSERT_EQ(cancelled.start(lim, 1, -1, &t_cancel), PTL_OK);
  ASSERT_EQ(last.start(lim, 1, -1, &t_last), PTL_OK);
  EXPECT_EQ(ptl_cancel(lim, t_cancel), PTL_OK);
  EXPECT_EQ(cancelled.calls.load(), 1);
  EXPECT_EQ(cancelled.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_cancel(lim, t_cancel), PTL_ENOTFOUND);
  EXPECT_EQ(stats_of(lim).waiting, 3u);

  ASSERT_EQ(ptl_release(lim, held), PTL_OK);  // -> first (async)
  ASSERT_TRUE(first.wait());
  EXPECT_FALSE(sync_second.done());
  ASSERT_EQ(ptl_release(lim, first.permit.load()), PTL_OK);  // -> the sync waiter
  ASSERT_TRUE(sync_second.wait_done());
  EXPECT_EQ(sync_second.rc(), PTL_OK);
  EXPECT_EQ(last.calls.load(), 0) << "the last async waiter passed the sync one";
  sync_second.finish();  // -> last
  ASSERT_TRUE(last.wait());
  EXPECT_EQ(last.status.load(), PTL_OK);
  EXPECT_EQ(ptl_release(lim, last.permit.load()), PTL_OK);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.total_timeouts, 1u);
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(s.in_flight, 0u);
}

TEST(ShmAsync, WindowBlockedHeadIsGrantedWhenTheWindowSlides) {
  constexpr int64_t kWindow = 150 * kMs;
  ShmReg reg;
  Lim lim = reg.make(make_cfg(5, 1, 0.15));
  const int64_t t0 = mono_ns();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Req r;
  ASSERT_EQ(r.start(lim, 1, 5 * kSec, nullptr), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_GE(r.t_cb.load(), t0 + kWindow) << "granted inside the window";
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
}

TEST(ShmAsync, LastUnrefAndRemoveCompleteWithEclosed) {
  ShmReg reg;
  Lim keep = reg.make(make_cfg(1), "held");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(keep, 0, &held), PTL_OK);
  // The last reference of the handle that asked completes its pending acquires.
  {
    Lim mine;
    ASSERT_EQ(ptl_registry_get(reg, "held", mine.out()), PTL_OK);
    auto* r = new Req;
    ASSERT_EQ(r->start(mine, 1, -1, nullptr), PTL_OK);
    ASSERT_TRUE(wait_waiting(keep, 1));
    ptl_limiter_unref(mine.release());
    ASSERT_TRUE(r->wait(5 * kSec));
    EXPECT_EQ(r->status.load(), PTL_ECLOSED);
    delete r;
    EXPECT_EQ(stats_of(keep).waiting, 0u) << "the closed waiter stayed in line";
  }
  // A removal (by any process) completes every pending acquire of the limiter.
  Req r1, r2;
  ASSERT_EQ(r1.start(keep, 1, -1, nullptr), PTL_OK);
  ASSERT_EQ(r2.start(keep, 1, 10 * kSec, nullptr), PTL_OK);
  ASSERT_EQ(ptl_registry_remove(reg, "held"), PTL_OK);
  ASSERT_TRUE(r1.wait(5 * kSec));
  ASSERT_TRUE(r2.wait(5 * kSec));
  EXPECT_EQ(r1.status.load(), PTL_ECLOSED);
  EXPECT_EQ(r2.status.load(), PTL_ECLOSED);
  EXPECT_EQ(ptl_cancel(keep, 12345), PTL_ENOTFOUND);
}

TEST(ShmAsync, ManyAsyncWaitersEachCalledOnce) {
  ShmReg reg;
  Lim lim = reg.make(make_cfg(3));
  std::vector<std::unique_ptr<Req>> reqs;
  for (int i = 0; i < 200; ++i) {
    reqs.push_back(std::make_unique<Req>());
    ASSERT_EQ(reqs.back()->start(lim, 1, -1, nullptr), PTL_OK);
  }
  // Release each grant as it comes: all 200 are served, each exactly once.
  size_t served = 0;
  const int64_t end = mono_ns() + 20 * kSec;
  while (served < reqs.size() && mono_ns() < end) {
    served = 0;
    for (auto& r : reqs) {
      if (r->calls.load() == 0) continue;
      ++served;
      if (r->status.load() == PTL_OK && r->permit.load() != 0) {
        EXPECT_EQ(ptl_release(lim, r->permit.exchange(0)), PTL_OK);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_EQ(served, reqs.size());
  for (auto& r : reqs) {
    EXPECT_EQ(r->calls.load(), 1);
    EXPECT_EQ(r->status.load(), PTL_OK);
  }
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

}  // namespace
}  // namespace ptl_test
