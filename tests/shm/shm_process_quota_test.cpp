// SPDX-License-Identifier: MIT
// shm:// across real processes: the global invariants under 4 processes x 2 threads, and
// first come first served across processes.
#include <vector>

#include "shm_process_util.hpp"

namespace ptl_test {
namespace {

// ---- never over quota, across processes --------------------------------------------------

TEST_F(ShmProcesses, FourProcessesTimesTwoThreadsKeepConcurrencyAndWindow) {
  // 20 per 0.5 s for 3 s. Spans are checked over 80% of the window: a woken waiter may
  // read the clock long after its grant when 8 threads (and, under the sanitizers, a
  // parallel test) share 2 cores; a limiter that lets a boundary burst through (fixed
  // buckets: up to 40 in a short span) still fails. The proven count needs no slack.
  constexpr int64_t kWindow = 500 * kMs;
  constexpr int64_t kProcessSlack = 100 * kMs;
  ptl_limiter_config cfg = make_cfg(3, 20, 0.5);
  Lim lim = reg_.make(cfg, "quota");
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(spawn("hammer", "quota", {std::to_string(i), "3000"}));
  for (pid_t pid : pids) EXPECT_EQ(wait_exit(pid, 60 * kSec), 0);
  EXPECT_EQ(obs_->check(3, 20, kWindow, kProcessSlack), "");
  const uint64_t grants = obs_->count.load();
  EXPECT_GE(grants, 80u) << "the window was hardly used";
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, grants);
  std::printf(
      "[ shm     ] 4 processes x 2 threads: %llu grants, max in flight %lld of 3, "
      "at most %zu grants provably inside one window (limit 20)\n",
      static_cast<unsigned long long>(grants), static_cast<long long>(obs_->max_in_flight.load()),
      obs_->proven_max_in_window(kWindow));
}

TEST_F(ShmProcesses, FourProcessesTimesTwoThreadsKeepConcurrencyOnly) {
  ptl_limiter_config cfg = make_cfg(2);
  Lim lim = reg_.make(cfg, "conc");
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(spawn("hammer", "conc", {std::to_string(i), "1500"}));
  for (pid_t pid : pids) EXPECT_EQ(wait_exit(pid, 60 * kSec), 0);
  EXPECT_EQ(obs_->check(2, 0, 0, 0), "");
  EXPECT_EQ(obs_->max_in_flight.load(), 2) << "8 threads never held both permits at once";
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
  EXPECT_EQ(stats_of(lim).total_acquired, obs_->count.load());
}

// ---- first come, first served across processes ----------------------------------------

TEST_F(ShmProcesses, WaitersOfManyProcessesAreServedInArrivalOrder) {
  Lim lim = reg_.make(make_cfg(1), "fifo");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  std::vector<pid_t> pids;
  for (int i = 0; i < 5; ++i) {
    pids.push_back(spawn("queue", "fifo", {std::to_string(i)}));
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(i + 1), kHangGuard)) << "worker " << i;
  }
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  for (pid_t pid : pids) EXPECT_EQ(wait_exit(pid), 0);
  std::vector<int> order;
  for (const SharedRecord& r : obs_->snapshot()) order.push_back(r.tag);  // serialized: max 1
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace ptl_test
