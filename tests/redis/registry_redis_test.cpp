// SPDX-License-Identifier: MIT
// What only the redis:// registry has: keys under a prefix and a hash tag, prefixes and
// databases apart, limits a Lua number holds, handles bound to names, PTL_REGISTRY_URI.
// (The registry behaviour every backend shares is in tests/conformance.)
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "redis_util.hpp"

namespace ptl_test {
namespace {

TEST(RedisRegistry, ResetLeavesNoKeysOfThePrefix) {
  RedisReg reg("prefix=listing");
  const ptl_limiter_config cfg = make_cfg(1, 5, 1.0, 9);
  for (const char* n : {"zeta", "alpha", "Mid", "\xc3\xa9t\xc3\xa9", "a:b}c{d"}) {
    ASSERT_EQ(ptl_registry_register(reg, n, &cfg, 0), PTL_OK) << n << ": " << ptl_last_error();
    Lim lim;
    ASSERT_EQ(ptl_registry_get(reg, n, lim.out()), PTL_OK);
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire_cost(lim, 2, 0, &p), PTL_OK);  // holders, window and costs
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  EXPECT_EQ(count_listed(reg), 5);
  ASSERT_EQ(ptl_registry_reset(reg), PTL_OK) << ptl_last_error();
  EXPECT_EQ(count_listed(reg), 0);
  EXPECT_EQ(ptl_registry_exists(reg, "alpha"), 0);
  RedisClient c(redis().port());
  EXPECT_EQ(c.command({"KEYS", "{listing*"}), "") << "reset left keys behind";
}

TEST(RedisRegistry, PrefixesAndDatabasesAreSeparate) {
  RedisReg plain, other("prefix=other"), db1(redis().uri() + "/1", true);
  const ptl_limiter_config cfg = make_cfg(1);
  ASSERT_EQ(ptl_registry_register(plain, "shared-name", &cfg, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(other, "shared-name"), 0);
  EXPECT_EQ(ptl_registry_exists(db1, "shared-name"), 0);
  ASSERT_EQ(ptl_registry_register(other, "shared-name", &cfg, 0), PTL_OK);
  ASSERT_EQ(ptl_registry_register(db1, "shared-name", &cfg, 0), PTL_OK);
  Lim a, b, c;
  ASSERT_EQ(ptl_registry_get(plain, "shared-name", a.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get(other, "shared-name", b.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get(db1, "shared-name", c.out()), PTL_OK);
  ptl_permit pa, pb, pc;
  ASSERT_EQ(ptl_acquire(a, 0, &pa), PTL_OK);
  ASSERT_EQ(ptl_acquire(b, 0, &pb), PTL_OK) << "prefix 'other' shares the quota of 'ptl'";
  ASSERT_EQ(ptl_acquire(c, 0, &pc), PTL_OK) << "database 1 shares the quota of database 0";
  EXPECT_EQ(ptl_release(a, pa), PTL_OK);
  EXPECT_EQ(ptl_release(b, pb), PTL_OK);
  EXPECT_EQ(ptl_release(c, pc), PTL_OK);
  ASSERT_EQ(ptl_registry_reset(other), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(plain, "shared-name"), 1) << "reset reached another prefix";
}

TEST(RedisRegistry, KeysOfOneLimiterShareAHashTag) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "tagged", make_cfg(1, 5, 1.0));
  ptl_permit p;
  ASSERT_EQ(ptl_acquire(lim, -1, &p), PTL_OK);
  RedisClient c(redis().port());
  const std::string keys = c.command({"KEYS", "*tagged*"});
  ASSERT_FALSE(keys.empty());
  size_t start = 0;
  int n = 0;
  while (start < keys.size()) {
    const size_t end = std::min(keys.find(' ', start), keys.size());
    EXPECT_EQ(keys.substr(start, 12), "{ptl:tagged}") << keys.substr(start, end - start);
    start = end + 1;
    ++n;
  }
  EXPECT_GE(n, 3);  // limits and state, holders, window at least
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(RedisRegistry, HandleKeptAcrossRemoveAndCreateStillHearsItsGrants) {
  // Handles are bound to names (ADR 9): one kept across a remove fails until the name is
  // created again, then works on the new limiter, waiters' notifications included.
  RedisReg reg;
  Lim old = redis_limiter(reg, "again", make_cfg(1));
  ASSERT_EQ(ptl_registry_remove(reg, "again"), PTL_OK);
  ptl_permit none = 0;
  EXPECT_EQ(ptl_acquire(old, 0, &none), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions("does not exist")) << ptl_last_error();
  Lim fresh = redis_limiter(reg, "again", make_cfg(1));  // a new object of the registry
  ASSERT_NE(old.get(), fresh.get());
  ptl_permit held;
  ASSERT_EQ(ptl_acquire(fresh, -1, &held), PTL_OK);
  std::thread waiter([&] {
    ptl_permit p;
    ASSERT_EQ(ptl_acquire(old, 10 * kSec, &p), PTL_OK) << ptl_last_error();
    EXPECT_EQ(ptl_release(old, p), PTL_OK);
  });
  ASSERT_TRUE(wait_waiting(fresh, 1));
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_release(fresh, held), PTL_OK);
  waiter.join();
  EXPECT_LT(mono_ns() - t0, kSec) << "the old handle's waiter missed its grant";
}

TEST(RedisRegistry, LimitsTheServerCannotHoldExactlyAreRejected) {
  RedisReg reg;
  ptl_limiter_config cfg = make_cfg(1, (uint64_t{1} << 53) + 1, 1.0);
  EXPECT_EQ(ptl_registry_register(reg, "huge", &cfg, 0), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("2^53"));
}

TEST(RedisRegistry, DefaultRegistryFromTheEnvironment) {
  // Each test runs in its own process (gtest_discover_tests), so this is the first use.
  ASSERT_EQ(setenv("PTL_REGISTRY_URI", redis().uri("prefix=envtest").c_str(), 1), 0);
  const ptl_limiter_config cfg = make_cfg(1);
  ASSERT_EQ(ptl_registry_register(nullptr, "from-env", &cfg, 0), PTL_OK) << ptl_last_error();
  RedisReg same("prefix=envtest");
  EXPECT_EQ(ptl_registry_exists(same, "from-env"), 1);
}

}  // namespace
}  // namespace ptl_test
