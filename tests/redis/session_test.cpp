// SPDX-License-Identifier: MIT
// Liveness per process on redis:// (ADR 9): at default settings a killed holder's permits
// come back within the 3 s session lease; a release made while the server is away is kept
// and delivered once it answers; a place in line the server could not be told about is
// taken back by the next heartbeat; a restart longer than the lease takes nothing from a
// live process.
#include <string>

#include "async_util.hpp"
#include "mp_util.hpp"

namespace ptl_test {
namespace {

constexpr int64_t kDefaultLease = 3 * kSec;

// Acquires on `lim`, retrying while the server is away (PTL_EBACKEND), until `deadline`.
int acquire_through_outage(ptl_limiter* lim, int64_t deadline, ptl_permit* p) {
  for (;;) {
    const int64_t left = deadline - mono_ns();
    if (left <= 0) return PTL_ETIMEDOUT;
    const int rc = ptl_acquire(lim, left, p);
    if (rc != PTL_EBACKEND) return rc;
    sleep_ns(10 * kMs);
  }
}

TEST(RedisSession, KilledHolderIsReclaimedWithinTheDefaultLease) {
  const std::string uri = redis().uri();
  let_server_settle(redis(), kDefaultLease);
  RedisReg reg(uri, true);
  Lim lim = redis_limiter(reg, "default-holder", make_cfg(1));
  int out = -1;
  const pid_t pid = spawn_worker({"hold", uri, "default-holder"}, &out);
  char buf[8] = {};
  ASSERT_EQ(read(out, buf, 5), 5) << "the worker did not take its permit";
  close(out);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  const int64_t killed = mono_ns();
  waitpid(pid, nullptr, 0);
  ptl_permit p;
  ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK) << ptl_last_error();
  const int64_t took = mono_ns() - killed;
  RecordProperty("reclaim_ms", static_cast<int>(took / kMs));
  std::printf("[redis] killed holder reclaimed after %lld ms\n",
              static_cast<long long>(took / kMs));
  EXPECT_LE(took, kDefaultLease + 500 * kMs) << "reclaimed later than the session's lease";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(RedisSession, ReleaseWhileTheServerIsAwayIsDeliveredWhenItAnswers) {
  RedisServer server({"--appendonly", "yes", "--appendfsync", "always"});
  const std::string uri = server.uri("timeout=0.5");
  RedisReg holder(uri, true), other(uri, true);
  Lim held_lim = redis_limiter(holder, "kept", make_cfg(2));
  Lim other_lim;
  ASSERT_EQ(ptl_registry_get(other, "kept", other_lim.out()), PTL_OK) << ptl_last_error();
  ptl_permit a, b;
  ASSERT_EQ(ptl_acquire(held_lim, -1, &a), PTL_OK);
  ASSERT_EQ(ptl_acquire(held_lim, -1, &b), PTL_OK);
  server.stop();
  // The server cannot be told: the releases succeed here and are kept.
  EXPECT_EQ(ptl_release(held_lim, a), PTL_OK);
  EXPECT_EQ(ptl_release(held_lim, b), PTL_OK);
  sleep_ns(500 * kMs);
  ASSERT_TRUE(server.start());
  const int64_t answered = mono_ns();
  // Nobody else holds anything: the server still counts both permits until the kept
  // releases reach it. Without them nothing would be granted while the holder lives.
  ptl_permit p, q;
  ASSERT_EQ(acquire_through_outage(other_lim, answered + 10 * kSec, &p), PTL_OK)
      << ptl_last_error();
  ASSERT_EQ(acquire_through_outage(other_lim, answered + 10 * kSec, &q), PTL_OK)
      << ptl_last_error();
  const int64_t took = mono_ns() - answered;
  RecordProperty("first_grants_after_restart_ms", static_cast<int>(took / kMs));
  std::printf("[redis] both permits back %lld ms after the restart\n",
              static_cast<long long>(took / kMs));
  EXPECT_LE(took, kSec + 500 * kMs) << "capacity came back later than 1 s after the restart";
  EXPECT_EQ(ptl_release(other_lim, p), PTL_OK);
  EXPECT_EQ(ptl_release(other_lim, q), PTL_OK);
}

TEST(RedisSession, APlaceInLineTheServerMissedIsTakenBackByTheHeartbeat) {
  RedisServer server({"--appendonly", "yes", "--appendfsync", "always"});
  const std::string uri = server.uri("timeout=0.5");
  RedisReg waiter(uri, true), owner(uri, true);
  Lim own = redis_limiter(owner, "line", make_cfg(1));
  Lim lim;
  ASSERT_EQ(ptl_registry_get(waiter, "line", lim.out()), PTL_OK) << ptl_last_error();
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(own, -1, &held), PTL_OK);
  Req req;
  uint64_t ticket = 0;
  ASSERT_EQ(req.start(lim, 1, -1, &ticket), PTL_OK);
  ASSERT_TRUE(wait_waiting(own, 1));
  server.stop();
  // The waiter fails (its notifications are gone) and cannot take its ticket back.
  ASSERT_TRUE(req.wait());
  EXPECT_EQ(req.status.load(), PTL_EBACKEND);
  ASSERT_TRUE(server.start());
  const int64_t answered = mono_ns();
  // The ticket came back with the server's data; the waiter's process lives and beats,
  // so only its sync can take it out of line.
  EXPECT_TRUE(wait_until([&] {
    ptl_limiter_stats st{};
    st.struct_size = sizeof st;
    return ptl_limiter_stats_get(own, &st) == PTL_OK && st.waiting == 0;
  })) << "the stale place in line stayed";
  RecordProperty("line_cleared_ms", static_cast<int>((mono_ns() - answered) / kMs));
  // And the permit, once released, is not handed to it.
  EXPECT_EQ(ptl_release(own, held), PTL_OK);
  ptl_permit p;
  EXPECT_EQ(ptl_acquire(own, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(own, p), PTL_OK);
}

TEST(RedisSession, ARestartLongerThanTheLeaseTakesNothingFromALiveHolder) {
  RedisServer server({"--appendonly", "yes", "--appendfsync", "always"});
  const std::string uri = server.uri("lease=0.6&timeout=0.5");
  RedisReg holder(uri, true), other(uri, true);
  Lim lim = redis_limiter(holder, "outlived", make_cfg(1));
  Lim other_lim;
  ASSERT_EQ(ptl_registry_get(other, "outlived", other_lim.out()), PTL_OK) << ptl_last_error();
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(lim, -1, &held), PTL_OK);
  server.stop();
  sleep_ns(2 * kSec);  // more than three leases without a heartbeat
  ASSERT_TRUE(server.start());
  // The holder's session ran out while the server was away: it is not dead, and the
  // permit still counts, through the restart and after.
  const int64_t until = mono_ns() + 3 * kSec;
  while (mono_ns() < until) {
    ptl_permit p;
    const int rc = ptl_try_acquire(other_lim, &p, nullptr);
    ASSERT_NE(rc, PTL_OK) << "granted a permit that a live process holds";
    sleep_ns(50 * kMs);
  }
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  ptl_permit p;
  EXPECT_EQ(acquire_through_outage(other_lim, mono_ns() + 5 * kSec, &p), PTL_OK)
      << ptl_last_error();
  EXPECT_EQ(ptl_release(other_lim, p), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
