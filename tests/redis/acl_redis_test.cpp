// SPDX-License-Identifier: MIT
// redis:// as a Redis ACL user (USER:PASSWORD@) allowed only what the library needs: the
// rule is read from the README, so the documented line is the tested one.
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "redis_util.hpp"

namespace ptl_test {
namespace {

constexpr const char* kPassword = "s3cret-acl";

// The words of the README's `ACL SETUSER ptl ...` line, its PASSWORD filled in.
std::vector<std::string> readme_acl_rule() {
  std::ifstream readme(PTL_README);
  std::string line;
  while (std::getline(readme, line)) {
    if (!line.starts_with("ACL SETUSER ptl ")) continue;
    std::istringstream words(line);
    std::vector<std::string> argv;
    for (std::string w; words >> w;)
      argv.push_back(w == ">PASSWORD" ? ">" + std::string(kPassword) : w);
    return argv;
  }
  ADD_FAILURE() << PTL_README << " has no line starting with 'ACL SETUSER ptl '";
  return {};
}

// A server whose default user is off, with the user `ptl` made by `rule`.
class AclServer {
 public:
  explicit AclServer(std::vector<std::string> rule) {
    RedisClient admin(server_.port());
    EXPECT_EQ(admin.command(rule), "OK") << "the ACL rule was refused";
    // The admin of the test keeps a user of its own; the default user may do nothing.
    EXPECT_EQ(admin.command({"ACL", "SETUSER", "admin", "on", ">admin", "~*", "&*", "+@all"}),
              "OK");
    EXPECT_EQ(admin.command({"ACL", "SETUSER", "default", "off"}), "OK");
  }
  // The database is 1: opening a registry there needs SELECT.
  std::string uri(const std::string& user = "ptl") const {
    return "redis://" + user + ":" + kPassword + "@127.0.0.1:" + std::to_string(server_.port()) +
           "/1";
  }
  int port() const { return server_.port(); }

 private:
  RedisServer server_;
};

ptl_policy policy_of(const std::vector<ptl_limit>& limits) {
  ptl_policy p;
  ptl_policy_init(&p);
  p.n_limits = static_cast<uint32_t>(limits.size());
  p.limits = limits.data();
  return p;
}

TEST(RedisAcl, TheReadmesMinimalUserRunsEverythingTheLibraryDoes) {
  AclServer server(readme_acl_rule());
  RedisReg reg(server.uri(), true);
  ASSERT_NE(static_cast<ptl_registry*>(reg), nullptr);

  // Registry: register, list, stats; a limiter with concurrency, window and cost.
  Lim lim = redis_limiter(reg, "acl-limiter", make_cfg(1, 3, 1.0, 10));
  EXPECT_EQ(count_listed(reg), 1);
  ptl_limiter_stats st{};
  st.struct_size = sizeof st;
  EXPECT_EQ(ptl_registry_stats(reg, "acl-limiter", &st), PTL_OK) << ptl_last_error();

  // Grants, a refusal, and a waiter woken by a release (the channels).
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 2, 0, &held), PTL_OK) << ptl_last_error();
  ptl_permit none = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &none, &retry), PTL_EAGAIN) << ptl_last_error();
  std::thread releaser([&] {
    sleep_ns(100 * kMs);
    EXPECT_EQ(ptl_release(lim, held), PTL_OK) << ptl_last_error();
  });
  ptl_permit waited = 0;
  EXPECT_EQ(ptl_acquire(lim, 10 * kSec, &waited), PTL_OK) << ptl_last_error();
  releaser.join();
  EXPECT_EQ(ptl_release(lim, waited), PTL_OK) << ptl_last_error();

  // A policy of three limits: amounts, settling.
  const std::vector<ptl_limit> limits = {
      {"requests", 2, 0}, {"requests", 50, 60 * kSec}, {"tokens", 1000, 60 * kSec}};
  const ptl_policy policy = policy_of(limits);
  ASSERT_EQ(ptl_registry_register_policy(reg, "acl-policy", &policy, 0), PTL_OK)
      << ptl_last_error();
  Lim pol;
  ASSERT_EQ(ptl_registry_get(reg, "acl-policy", pol.out()), PTL_OK) << ptl_last_error();
  const ptl_amount want[] = {{"tokens", 300}};
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_amounts(pol, want, 1, 5 * kSec, &p), PTL_OK) << ptl_last_error();
  const ptl_amount used[] = {{"tokens", 120}};
  EXPECT_EQ(ptl_settle(pol, p, used, 1), PTL_OK) << ptl_last_error();
  // The policy changed live while a permit is held: the window logs and records move.
  const std::vector<ptl_limit> fewer = {{"requests", 3, 0}, {"tokens", 900, 60 * kSec}};
  const ptl_policy changed = policy_of(fewer);
  EXPECT_EQ(ptl_limiter_set_policy(pol, &changed), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(pol, p), PTL_OK) << ptl_last_error();

  // Remove one, reset the rest: nothing of the prefix is left.
  EXPECT_EQ(ptl_registry_remove(reg, "acl-limiter"), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_registry_reset(reg), PTL_OK) << ptl_last_error();
  EXPECT_EQ(count_listed(reg), 0);
  RedisClient admin(server.port());
  ASSERT_EQ(admin.command({"AUTH", "admin", "admin"}), "OK");
  ASSERT_EQ(admin.command({"SELECT", "1"}), "OK");
  EXPECT_EQ(admin.command({"KEYS", "{ptl*"}), "") << "reset left keys behind";
}

TEST(RedisAcl, TheMinimalUserCanDoNothingElse) {
  AclServer server(readme_acl_rule());
  RedisClient user(server.port());
  ASSERT_EQ(user.command({"AUTH", "ptl", kPassword}), "OK");
  // Other keys, other commands, other channels: refused.
  EXPECT_NE(user.command({"GET", "other:key"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(user.command({"FLUSHALL"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(user.command({"CONFIG", "GET", "dir"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(user.command({"EVAL", "return 1", "0"}).find("NOPERM"), std::string::npos);
  EXPECT_NE(user.command({"PUBLISH", "elsewhere", "x"}).find("NOPERM"), std::string::npos);
}

TEST(RedisAcl, AUserDeniedACommandItNeedsGetsAnErrorNamingIt) {
  // The same rule without EVALSHA: opening fails at once, naming the refused command, and
  // nothing hangs.
  std::vector<std::string> rule = readme_acl_rule();
  std::erase(rule, "+evalsha");
  AclServer server(rule);
  ptl_registry* reg = nullptr;
  const int rc = ptl_registry_open(server.uri().c_str(), &reg);
  if (rc == PTL_OK) {
    const ptl_limiter_config cfg = make_cfg(1);
    EXPECT_EQ(ptl_registry_register(reg, "denied", &cfg, 0), PTL_EBACKEND);
    ptl_registry_close(reg);
  } else {
    EXPECT_EQ(rc, PTL_EBACKEND) << ptl_last_error();
  }
  const std::string message = ptl_last_error();
  EXPECT_NE(message.find("NOPERM"), std::string::npos) << message;
  EXPECT_NE(message.find("evalsha"), std::string::npos) << message;
  EXPECT_EQ(message.find(kPassword), std::string::npos) << message;
}

TEST(RedisAcl, AWrongPasswordForAUserIsRefusedWithoutShowingIt) {
  AclServer server(readme_acl_rule());
  const std::string uri =
      "redis://ptl:not-" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(server.port());
  ptl_registry* reg = nullptr;
  EXPECT_EQ(ptl_registry_open(uri.c_str(), &reg), PTL_EBACKEND);
  const std::string message = ptl_last_error();
  EXPECT_NE(message.find("password"), std::string::npos) << message;
  EXPECT_EQ(message.find(kPassword), std::string::npos) << message;
}

}  // namespace
}  // namespace ptl_test
