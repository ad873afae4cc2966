// Registry operations on redis://: register, replace in place, get, get_or_create,
// exists, remove, reset, list in name order, stats; prefixes and databases apart.
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "redis_util.hpp"

namespace ptl_test {
namespace {

std::vector<std::string> names_of(ptl_registry* reg) {
  std::vector<std::string> names;
  const int rc = ptl_registry_list(
      reg,
      [](void* u, const char* name, const ptl_limiter_config*) {
        static_cast<std::vector<std::string>*>(u)->push_back(name);
        return 0;
      },
      &names);
  EXPECT_EQ(rc, PTL_OK) << ptl_last_error();
  return names;
}

TEST(RedisRegistry, RegisterGetExistsRemove) {
  RedisReg reg;
  const ptl_limiter_config cfg = make_cfg(3, 10, 2.0);
  EXPECT_EQ(ptl_registry_exists(reg, "svc"), 0);
  Lim none;
  EXPECT_EQ(ptl_registry_get(reg, "svc", none.out()), PTL_ENOTFOUND);
  ASSERT_EQ(ptl_registry_register(reg, "svc", &cfg, 0), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_registry_register(reg, "svc", &cfg, 0), PTL_EEXIST);
  EXPECT_TRUE(last_error_mentions("exists"));
  EXPECT_EQ(ptl_registry_exists(reg, "svc"), 1);
  Lim lim;
  ASSERT_EQ(ptl_registry_get(reg, "svc", lim.out()), PTL_OK);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.config.max_per_window, 10u);
  EXPECT_EQ(s.config.window_seconds, 2.0);
  EXPECT_EQ(ptl_registry_remove(reg, "svc"), PTL_OK);
  EXPECT_EQ(ptl_registry_remove(reg, "svc"), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_registry_exists(reg, "svc"), 0);
  // A handle to a removed limiter says so, rather than limiting nothing.
  ptl_permit p;
  EXPECT_EQ(ptl_acquire(lim, 0, &p), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions("does not exist"));
}

TEST(RedisRegistry, ReplaceReconfiguresInPlace) {
  RedisReg reg;
  Lim lim = redis_limiter(reg, "replace", make_cfg(2, 5, 60.0));
  ptl_permit p;
  ASSERT_EQ(ptl_acquire(lim, -1, &p), PTL_OK);
  const ptl_limiter_config bigger = make_cfg(4, 8, 30.0);
  ASSERT_EQ(ptl_registry_register(reg, "replace", &bigger, PTL_REPLACE), PTL_OK);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.config.max_concurrent, 4u);
  EXPECT_EQ(s.config.window_seconds, 30.0);
  EXPECT_EQ(s.in_flight, 1u) << "in-flight permits survive PTL_REPLACE";
  EXPECT_EQ(s.current_window_count, 1u) << "the window's history survives PTL_REPLACE";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(RedisRegistry, GetOrCreateKeepsTheFirstConfig) {
  RedisReg a, b;
  const ptl_limiter_config first = make_cfg(2), second = make_cfg(9);
  Lim la, lb;
  ASSERT_EQ(ptl_registry_get_or_create(a, "goc", &first, la.out()), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_registry_get_or_create(b, "goc", &second, lb.out()), PTL_OK);
  EXPECT_EQ(stats_of(lb).config.max_concurrent, 2u);
  Lim again;
  ASSERT_EQ(ptl_registry_get_or_create(a, "goc", &second, again.out()), PTL_OK);
  EXPECT_EQ(again.get(), la.get()) << "one object per name and registry";
}

TEST(RedisRegistry, ListIsInNameOrderAndResetEmptiesThePrefix) {
  RedisReg reg("prefix=listing");
  const ptl_limiter_config cfg = make_cfg(1);
  for (const char* n : {"zeta", "alpha", "Mid", "\xc3\xa9t\xc3\xa9", "a:b}c{d"}) {
    ASSERT_EQ(ptl_registry_register(reg, n, &cfg, 0), PTL_OK) << n << ": " << ptl_last_error();
  }
  const std::vector<std::string> expected = {"Mid", "a:b}c{d", "alpha", "zeta",
                                             "\xc3\xa9t\xc3\xa9"};
  EXPECT_EQ(names_of(reg), expected);
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
  RedisReg reg;
  Lim old = redis_limiter(reg, "again", make_cfg(1));
  ASSERT_EQ(ptl_registry_remove(reg, "again"), PTL_OK);
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
