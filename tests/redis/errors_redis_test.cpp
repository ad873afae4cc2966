// SPDX-License-Identifier: MIT
// Failures on redis://: bad URIs, passwords, unreachable servers, a server that goes
// away and comes back, and on_error=open. Each gives a clear error within bounded time.
#include <string>
#include <utility>
#include <vector>

#include "redis_util.hpp"

namespace ptl_test {
namespace {

// Opens uri, expecting `status` within `bound_ns` and a message mentioning `word`.
void expect_open_fails(const std::string& uri, int status, const std::string& word,
                       int64_t bound_ns = 3 * kSec) {
  ptl_registry* reg = nullptr;
  const int64_t t0 = mono_ns();
  const int rc = ptl_registry_open(uri.c_str(), &reg);
  const int64_t took = mono_ns() - t0;
  EXPECT_EQ(rc, status) << uri << ": " << ptl_last_error();
  EXPECT_TRUE(last_error_mentions(word))
      << uri << ": '" << ptl_last_error() << "' lacks '" << word << "'";
  EXPECT_LT(took, bound_ns) << uri;
  if (rc == PTL_OK) ptl_registry_close(reg);
}

TEST(RedisErrors, BadUrisNameTheProblem) {
  const std::string hp = "127.0.0.1:" + std::to_string(redis().port());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"redis://", "no host"},
      {"redis://:6379", "no host"},
      {"redis://" + hp + "x", "port"},
      {"redis://127.0.0.1:0", "port"},
      {"redis://127.0.0.1:70000", "port"},
      {"redis://127.0.0.1:", "empty port"},
      {"redis://" + hp + "/x", "database"},
      {"redis://" + hp + "?prefix=a:b", "prefix"},
      {"redis://" + hp + "?prefix=", "prefix"},
      {"redis://" + hp + "?lease=0", "lease"},
      {"redis://" + hp + "?lease=abc", "lease"},
      {"redis://" + hp + "?on_error=maybe", "on_error"},
      {"redis://" + hp + "?colour=blue", "unknown parameter"},
      {"redis://" + hp + "?lease=1&lease=2", "twice"},
      {"redis://" + hp + "/0?prefix=a&prefix=b", "parameter 'prefix' is given twice"},
      {"redis://" + hp + "?prefix=a&timeout=1&prefix=a", "parameter 'prefix' is given twice"},
      {"redis://" + hp + "?lease", "no value"},
      {"redis://password@" + hp, "credentials"},
      {"redis://:p%zz@" + hp, "percent"},
      {"redis://[::1" + std::string(":6379"), "unclosed"},
      {"rediss://" + hp, "unknown scheme"},
  };
  for (const auto& [uri, word] : cases) expect_open_fails(uri, PTL_EINVAL, word, kSec);
}

TEST(RedisErrors, UnreachablePortFailsAtOpenPromptly) {
  const int port = closed_port();
  expect_open_fails("redis://127.0.0.1:" + std::to_string(port), PTL_EBACKEND, "unreachable");
  EXPECT_TRUE(last_error_mentions(std::to_string(port)));
}

TEST(RedisErrors, PasswordIsRequiredAndChecked) {
  RedisServer guarded({"--requirepass", "s3cret"});
  const std::string hp = "127.0.0.1:" + std::to_string(guarded.port());
  expect_open_fails("redis://" + hp, PTL_EBACKEND, "password");
  expect_open_fails("redis://:wrong@" + hp, PTL_EBACKEND, "password");
  RedisReg ok("redis://:s3cret@" + hp, true);
  const ptl_limiter_config cfg = make_cfg(1);
  ASSERT_EQ(ptl_registry_register(ok, "authed", &cfg, 0), PTL_OK) << ptl_last_error();
  Lim lim;
  ASSERT_EQ(ptl_registry_get(ok, "authed", lim.out()), PTL_OK);
  ptl_permit p;
  ASSERT_EQ(ptl_acquire(lim, 5 * kSec, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  // Percent-encoded passwords.
  RedisServer odd({"--requirepass", "p@ss:w/rd"});
  RedisReg enc("redis://:p%40ss%3Aw%2Frd@127.0.0.1:" + std::to_string(odd.port()), true);
  EXPECT_EQ(ptl_registry_exists(enc, "x"), 0) << ptl_last_error();
}

// A server of the test's own (to be stopped), a registry on it with `query`, and a
// limiter `name` of `max_concurrent` permits, one of them held.
struct OwnServer {
  OwnServer(const char* name, uint32_t max_concurrent, const std::string& query = "timeout=1")
      : reg(server.uri(query), true), lim(redis_limiter(reg, name, make_cfg(max_concurrent))) {
    EXPECT_EQ(ptl_acquire(lim, -1, &held), PTL_OK) << ptl_last_error();
  }
  RedisServer server;
  RedisReg reg;
  Lim lim;
  ptl_permit held = 0;
};

TEST(RedisErrors, ServerAwayGivesPromptBackendErrorsAndRecovery) {
  OwnServer own("away", 2);
  RedisServer& server = own.server;
  ptl_registry* reg = own.reg;
  ptl_limiter* lim = own.lim;
  const ptl_permit p = own.held;
  server.stop();
  for (int i = 0; i < 20; ++i) {
    ptl_permit q;
    const int64_t t0 = mono_ns();
    EXPECT_EQ(ptl_acquire(lim, 5 * kSec, &q), PTL_EBACKEND);
    EXPECT_LT(mono_ns() - t0, kSec) << "acquire #" << i << " was not prompt";
    EXPECT_TRUE(last_error_mentions("redis")) << ptl_last_error();
  }
  EXPECT_EQ(ptl_release(lim, p), PTL_OK) << "a release the server cannot hear still succeeds";
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_limiter_stats_get(lim, &s), PTL_EBACKEND);
  // The server comes back empty (no persistence): the limiter must be registered again.
  ASSERT_TRUE(server.start());
  int rc = PTL_EBACKEND;
  const int64_t end = mono_ns() + 5 * kSec;
  ptl_permit q;
  while ((rc = ptl_acquire(lim, 0, &q)) == PTL_EBACKEND && mono_ns() < end) sleep_ns(20 * kMs);
  EXPECT_EQ(rc, PTL_ENOTFOUND) << ptl_last_error();
  const ptl_limiter_config cfg = make_cfg(2);
  ASSERT_EQ(ptl_registry_register(reg, "away", &cfg, 0), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_acquire(lim, 5 * kSec, &q), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(lim, q), PTL_OK);
}

TEST(RedisErrors, WaitersFailCleanlyWhenTheServerGoesAway) {
  OwnServer own("away-wait", 1);
  ptl_limiter* lim = own.lim;
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    ptl_permit p;
    rc = ptl_acquire(lim, 30 * kSec, &p);
  });
  ASSERT_TRUE(wait_waiting(lim, 1));
  const int64_t t0 = mono_ns();
  own.server.stop();
  waiter.join();
  EXPECT_EQ(rc.load(), PTL_EBACKEND);
  EXPECT_LT(mono_ns() - t0, 5 * kSec);
  EXPECT_EQ(ptl_release(lim, own.held), PTL_OK);
}

TEST(RedisErrors, OnErrorOpenAdmitsWhileTheServerIsAway) {
  OwnServer own("open", 1, "on_error=open&timeout=1");
  ptl_limiter* lim = own.lim;
  const ptl_permit p = own.held;
  own.server.stop();
  // Fail-open: admitted without limits (even past max_concurrent), released locally.
  ptl_permit a, b;
  ASSERT_EQ(ptl_acquire(lim, 0, &a), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_try_acquire(lim, &b, nullptr), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(lim, a), PTL_OK);
  EXPECT_EQ(ptl_release(lim, b), PTL_OK);
  EXPECT_EQ(ptl_release(lim, b), PTL_EINVAL) << "an open permit is still released only once";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_limiter_stats_get(lim, &s), PTL_EBACKEND) << "stats are not faked";
}

}  // namespace
}  // namespace ptl_test
