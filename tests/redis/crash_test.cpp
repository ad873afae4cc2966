// SPDX-License-Identifier: MIT
// Crash safety on redis://: a holder killed with SIGKILL loses its permit within its
// session's lease, a killed waiter is passed over at once; a server restart in the middle of a run
// gives clean PTL_EBACKEND errors and no double grants afterwards.
#include <string>
#include <vector>

#include "mp_util.hpp"

namespace ptl_test {
namespace {

TEST(RedisCrash, KilledHolderIsReclaimedWithinItsLease) {
  constexpr int64_t kLease = 2 * kSec;
  const std::string uri = redis().uri("lease=2");
  let_server_settle(redis(), kLease);
  RedisReg reg(uri, true);
  Lim lim = redis_limiter(reg, "crash", make_cfg(1));
  int out = -1;
  const pid_t pid = spawn_worker({"hold", uri, "crash"}, &out);
  char buf[8] = {};
  ASSERT_EQ(read(out, buf, 5), 5) << "the worker did not take its permit";
  close(out);
  ASSERT_EQ(std::string(buf, 4), "held");
  EXPECT_EQ(stats_of(lim).in_flight, 1u);
  ptl_permit p;
  EXPECT_EQ(ptl_acquire(lim, 0, &p), PTL_EAGAIN);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  const int64_t killed = mono_ns();
  waitpid(pid, nullptr, 0);
  // Blocks on the dead holder's permit; the waiter's timer covers the lease's end.
  ASSERT_EQ(ptl_acquire(lim, 10 * kSec, &p), PTL_OK) << ptl_last_error();
  const int64_t took = mono_ns() - killed;
  RecordProperty("reclaim_ms", static_cast<int>(took / kMs));
  EXPECT_LE(took, kLease + 500 * kMs) << "reclaimed later than its lease";
  // Its last heartbeat came at most a third of a lease before the kill: 2/3 still to run.
  EXPECT_GE(took, kLease * 2 / 3 - 100 * kMs) << "the permit was not really held";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(RedisCrash, KilledWaiterIsPassedOverWithoutAGrant) {
  constexpr int64_t kLease = 2 * kSec;
  const std::string uri = redis().uri("lease=2");
  let_server_settle(redis(), kLease);
  RedisReg reg(uri, true);
  Lim lim = redis_limiter(reg, "dead-waiter", make_cfg(1));
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(lim, -1, &held), PTL_OK);
  const pid_t pid = spawn_worker({"wait", uri, "dead-waiter"});
  ASSERT_TRUE(wait_waiting(lim, 1)) << "the worker did not queue";
  const size_t before = connected_sessions(redis());
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  waitpid(pid, nullptr, 0);
  // The server notices the closed connection in its own time; a hand-off in that instant
  // still goes to the dead waiter (and comes back with its session, as a holder's).
  ASSERT_TRUE(wait_until([&] { return connected_sessions(redis()) < before; }));
  // The dead waiter is at the head, but its process is no longer connected: the release
  // passes it over and the permit goes to the next one in line, ours, at once, long
  // before the dead session's lease could end.
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  const int64_t released = mono_ns();
  ptl_permit p;
  ASSERT_EQ(ptl_acquire(lim, 10 * kSec, &p), PTL_OK) << ptl_last_error();
  const int64_t took = mono_ns() - released;
  RecordProperty("reclaim_ms", static_cast<int>(took / kMs));
  EXPECT_LT(took, kLease / 2) << "the dead waiter was handed the permit";
  EXPECT_EQ(stats_of(lim).waiting, 0u);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(RedisCrash, LiveHolderKeepsItsPermitPastTheLease) {
  const std::string uri = redis().uri("lease=0.6");
  RedisReg reg(uri, true);
  Lim lim = redis_limiter(reg, "renewed", make_cfg(1));
  ptl_permit p, q;
  ASSERT_EQ(ptl_acquire(lim, -1, &p), PTL_OK);
  sleep_ns(2 * kSec);  // more than three leases: only renewal keeps it
  EXPECT_EQ(stats_of(lim).in_flight, 1u);
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(RedisCrash, ServerRestartMidRunGivesCleanErrorsAndNoDoubleGrants) {
  // The server keeps its data across the restart (append-only file, fsync always):
  // SHUTDOWN NOSAVE skips the snapshot only. Holders whose process lives keep their
  // permits across the outage (it is shorter than the lease), so after recovery the
  // holder set still counts them.
  RedisServer server({"--appendonly", "yes", "--appendfsync", "always"});
  const std::string uri = server.uri("lease=5&timeout=1");
  constexpr int kProcesses = 4, kThreads = 2, kGrants = 25;
  {
    RedisReg reg(uri, true);
    const ptl_limiter_config cfg = make_cfg(2);
    ASSERT_EQ(ptl_registry_register(reg, "restart", &cfg, 0), PTL_OK) << ptl_last_error();
  }
  std::vector<pid_t> pids;
  std::vector<std::string> files;
  for (int i = 0; i < kProcesses; ++i) {
    files.push_back(server.dir() + "/restart-" + std::to_string(i));
    pids.push_back(spawn_worker({"hammer", uri, "restart", std::to_string(kThreads),
                                 std::to_string(kGrants), "20000", files.back()}));
  }
  sleep_ns(700 * kMs);
  server.stop();
  sleep_ns(kSec);
  ASSERT_TRUE(server.start());
  std::vector<Grant> all;
  int errors = 0;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(wait_worker(pids[i]), 0) << "worker " << i << " saw an error other than EBACKEND";
    int e = 0;
    std::vector<Grant> g = read_grants(files[i], &e);
    errors += e;
    all.insert(all.end(), g.begin(), g.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kProcesses * kThreads * kGrants));
  EXPECT_GT(errors, 0) << "the outage was not noticed";
  EXPECT_LE(max_overlap(all), 2) << "a permit was granted twice across the restart";
  size_t spanning = 0;
  for (const Grant& g : all) spanning += g.retried ? 1 : 0;
  RecordProperty("backend_errors", errors);
  RecordProperty("grants_spanning_the_outage", static_cast<int>(spanning));
  RedisReg reg(uri, true);
  const ptl_limiter_stats s = reg_stats(reg, "restart");
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

}  // namespace
}  // namespace ptl_test
