// SPDX-License-Identifier: MIT
// Policies on redis:// (ADR 15), one process: several limits admitted together, settle,
// observations shared through the server, live policy changes, exact read-back, window
// entries that stop taking grants W/1024 after their first, and the 0.1 key layout
// refused. Two registries in one process are two sessions, as two processes would be.
#include "policy_util.hpp"

namespace ptl_test {
namespace {

constexpr int64_t kMinute = 60 * kPolSec;
using core::Status;

class RedisPolicy : public ::testing::Test {
 protected:
  // Each test its own prefix: a fresh namespace on the shared test server.
  std::string uri(const std::string& extra = "") const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return redis().uri("prefix=pol-" + std::string(info->name()) + extra);
  }
  core::LimiterPtr make(core::RegistryBackend& reg, const std::string& name,
                        const core::PolicySpec& p) {
    reg.register_limiter(name, p, true);
    core::LimiterPtr lim = reg.get(name);
    EXPECT_TRUE(lim);
    return lim;
  }
};

core::PermitId take(core::LimiterBackend& lim, const core::Demand& d) {
  core::PermitId p = 0;
  EXPECT_EQ(lim.try_acquire(d, &p, nullptr), Status::kOk);
  return p;
}

TEST_F(RedisPolicy, PolicyAndConfigReadBackExactly) {
  auto reg = open_reg(uri());
  const core::PolicySpec p =
      make_policy({{"requests", 7, 0},
                   {"requests", 500, kMinute},
                   {"input_tokens", (uint64_t{1} << 53) - 1, 86'400 * kPolSec},
                   {"output_tokens", 3, 1'500'000}});
  core::LimiterPtr lim = make(*reg, "exact", p);
  EXPECT_EQ(lim->policy(), p);
  // A 0.1 config whose window no limit uses still reads back as registered.
  core::BasicConfig c;
  c.max_concurrent = 4;
  c.window_seconds = 0.1;
  const core::PolicySpec shorthand = core::PolicySpec::from_config(c);
  lim->set_policy(shorthand);
  EXPECT_EQ(lim->policy(), shorthand);
  EXPECT_EQ(lim->stats().config.window_seconds, 0.1);
  auto other = open_reg(uri());
  const std::vector<core::NamedConfig> listed = other->list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].config.max_concurrent, 4u);
  EXPECT_EQ(listed[0].config.window_seconds, 0.1);
  // Maxima a double cannot hold are refused before anything is written.
  const core::PolicySpec huge = make_policy({{"tokens", uint64_t{1} << 53, kMinute}});
  EXPECT_EQ(status_of([&] { reg->register_limiter("huge", huge, false); }), Status::kInvalid);
  EXPECT_FALSE(reg->exists("huge"));
}

TEST_F(RedisPolicy, AGrantTakesRoomInEveryLimitOrNone) {
  auto reg = open_reg(uri());
  core::LimiterPtr lim =
      make(*reg, "atomic",
           make_policy({{"requests", 100, kMinute}, {"tokens", 50, kMinute}, {"tokens", 40, 0}}));
  const core::PermitId a = take(*lim, Ask{{"tokens", 15}});
  core::PermitId b = 0;
  core::Nanos retry = 0;
  // 15 + 30 held would exceed 40 (the window has room): refused, and nothing of it is
  // counted anywhere.
  EXPECT_EQ(lim->try_acquire(Ask{{"tokens", 30}}, &b, &retry), Status::kAgain);
  EXPECT_EQ(retry, -1) << "only a release can make room in a held limit";
  EXPECT_EQ(lim->usage("requests", kMinute).used, 1u);
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 15u);
  EXPECT_EQ(lim->usage("tokens", 0).used, 15u);
  lim->release(a, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 15u) << "a window keeps what was granted";
  // Now the tokens window decides: 15 + 36 > 50, with a time it will fit.
  EXPECT_EQ(lim->try_acquire(Ask{{"tokens", 36}}, &b, &retry), Status::kAgain);
  EXPECT_GT(retry, 0);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
  b = take(*lim, Ask{{"tokens", 20}});
  lim->release(b, std::nullopt);
  // A demand above a max, or naming a unit the policy lacks, is the caller's error.
  EXPECT_EQ(status_of([&] {
              lim->try_acquire(Ask{{"tokens", 51}}, &b, nullptr);
            }),
            Status::kInvalid);
  EXPECT_EQ(status_of([&] {
              lim->try_acquire(Ask{{"images", 1}}, &b, nullptr);
            }),
            Status::kInvalid);
  const core::StatsSnapshot st = lim->stats();
  EXPECT_EQ(st.total_acquired, 2u);
  EXPECT_EQ(st.in_flight, 0u);
}

TEST_F(RedisPolicy, SettleReplacesTheEstimateUpAndDown) {
  auto reg = open_reg(uri());
  core::LimiterPtr lim =
      make(*reg, "settle", make_policy({{"tokens", 100, kMinute}, {"tokens", 80, 0}}));
  const core::PermitId a = take(*lim, Ask{{"tokens", 10}});
  lim->settle(a, Ask{{"tokens", 60}});
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 60u);
  EXPECT_EQ(lim->usage("tokens", 0).used, 60u);
  core::PermitId b = 0;
  EXPECT_EQ(lim->try_acquire(Ask{{"tokens", 41}}, &b, nullptr), Status::kAgain);
  b = take(*lim, Ask{{"tokens", 20}});  // 80 held, 80 in the window
  lim->settle(b, Ask{{"tokens", 5}});   // less frees room at once
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 65u);
  EXPECT_EQ(lim->usage("tokens", 0).used, 65u);
  const core::PermitId c = take(*lim, Ask{{"tokens", 15}});
  // More than estimated may put a window over its max: later grants wait.
  lim->settle(c, Ask{{"tokens", 50}});
  const core::LimitUsage over = lim->usage("tokens", kMinute);
  EXPECT_EQ(over.used, 115u);
  EXPECT_GT(over.next_room_ns, 0) << "over its max, the window waits for entries to leave";
  EXPECT_LE(over.next_room_ns, kMinute + 1000);
  for (core::PermitId p : {a, b, c}) lim->release(p, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u) << "a release gives back the settled amount";
}

TEST_F(RedisPolicy, SettleAfterReleaseCorrectsTheWindowOnly) {
  auto reg = open_reg(uri());
  core::LimiterPtr lim =
      make(*reg, "after", make_policy({{"requests", 10, 0}, {"output_tokens", 1000, kMinute}}));
  const core::PermitId p = take(*lim, Ask{});  // output unknown yet: estimated 0
  lim->release(p, std::nullopt);
  EXPECT_EQ(lim->usage("output_tokens", kMinute).used, 0u);
  lim->settle(p, Ask{{"output_tokens", 700}});
  EXPECT_EQ(lim->usage("output_tokens", kMinute).used, 700u);
  EXPECT_EQ(lim->usage("requests", 0).used, 0u);
  core::PermitId q = 0;
  EXPECT_EQ(lim->try_acquire(Ask{{"output_tokens", 301}}, &q, nullptr), Status::kAgain);
  // Another session settles its own permits only.
  auto other = open_reg(uri());
  core::LimiterPtr seen = other->get("after");
  EXPECT_EQ(status_of([&] { seen->settle(p, Ask{{"output_tokens", 1}}); }), Status::kInvalid);
}

TEST_F(RedisPolicy, EachUnitSettlesOnce) {
  auto reg = open_reg(uri());
  core::LimiterPtr lim =
      make(*reg, "twice",
           make_policy({{"input_tokens", 100, kMinute}, {"output_tokens", 100, kMinute}}));
  const core::PermitId p = take(*lim, Ask{{"input_tokens", 10}, {"output_tokens", 10}});
  lim->settle(p, Ask{{"input_tokens", 12}});
  EXPECT_EQ(status_of([&] { lim->settle(p, Ask{{"input_tokens", 13}}); }), Status::kInvalid);
  // A refused settle changes nothing: output_tokens is still open.
  EXPECT_EQ(status_of([&] {
              lim->settle(p, Ask{{"output_tokens", 1}, {"input_tokens", 1}});
            }),
            Status::kInvalid);
  EXPECT_EQ(lim->usage("output_tokens", kMinute).used, 10u);
  lim->release(p, std::nullopt);
  lim->settle(p, Ask{{"output_tokens", 30}});
  EXPECT_EQ(status_of([&] { lim->settle(p, Ask{{"output_tokens", 30}}); }), Status::kInvalid);
  EXPECT_EQ(lim->usage("input_tokens", kMinute).used, 12u);
  EXPECT_EQ(lim->usage("output_tokens", kMinute).used, 30u);
  EXPECT_EQ(status_of([&] { lim->settle(p, Ask{{"images", 1}}); }), Status::kInvalid);
  EXPECT_EQ(status_of([&] { lim->settle(12345, Ask{{"input_tokens", 1}}); }), Status::kInvalid);
  EXPECT_EQ(status_of([&] {
              lim->settle(p, Ask{{"images", uint64_t{1} << 60}});
            }),
            Status::kInvalid);
}

TEST_F(RedisPolicy, ObservationsAreSharedByEverySession) {
  auto a = open_reg(uri());
  auto b = open_reg(uri());
  core::LimiterPtr la = make(*a, "observed", make_policy({{"tokens", 1000, kMinute}}));
  core::LimiterPtr lb = b->get("observed");
  ASSERT_TRUE(lb);
  la->observe("tokens", 10, kMinute);
  EXPECT_EQ(lb->usage("tokens", kMinute).observed_cap, 10u);
  core::PermitId p = 0;
  core::Nanos retry = 0;
  EXPECT_EQ(lb->try_acquire(Ask{{"tokens", 11}}, &p, &retry), Status::kAgain);
  EXPECT_GT(retry, kMinute / 2) << "the cap ends with its reset, not before";
  p = take(*lb, Ask{{"tokens", 10}});
  EXPECT_EQ(la->usage("tokens", kMinute).observed_cap, 0u);
  EXPECT_EQ(la->try_acquire(Ask{{"tokens", 1}}, &p, nullptr), Status::kAgain);
  // Caps only tighten: a looser observation changes nothing; an ended one frees.
  lb->observe("tokens", 500, kMinute);
  EXPECT_EQ(la->usage("tokens", kMinute).observed_cap, 0u);
  EXPECT_EQ(status_of([&] { la->observe("images", 1, kMinute); }), Status::kInvalid);
  const core::PolicySpec two = make_policy({{"tokens", 1000, kMinute}, {"requests", 5, 0}});
  la->set_policy(two);
  lb->observe("requests", 0, 300 * kPolMs);
  EXPECT_EQ(la->try_acquire(Ask{{"tokens", 0}}, &p, nullptr), Status::kAgain);
}

TEST_F(RedisPolicy, SetPolicyKeepsTheHistoryOfLimitsThatContinue) {
  auto reg = open_reg(uri());
  core::LimiterPtr lim =
      make(*reg, "history", make_policy({{"requests", 5, kMinute}, {"tokens", 100, kMinute}}));
  std::vector<core::PermitId> held;
  for (int i = 0; i < 3; ++i) held.push_back(take(*lim, Ask{{"tokens", 20}}));
  // Another process changes the policy: the same requests window with a smaller max, the
  // tokens window made longer (it continues), and a new held limit.
  auto other = open_reg(uri());
  other->get("history")->set_policy(
      make_policy({{"tokens", 50, 0}, {"requests", 4, kMinute}, {"tokens", 100, 2 * kMinute}}));
  EXPECT_EQ(lim->usage("requests", kMinute).used, 3u);
  EXPECT_EQ(lim->usage("tokens", 2 * kMinute).used, 60u);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u) << "permits held at the change are not counted";
  // Our stale view is refreshed by the script's refusal, and the new limits apply.
  core::PermitId p = take(*lim, Ask{{"tokens", 30}});
  EXPECT_EQ(lim->usage("tokens", 0).used, 30u);
  core::PermitId q = 0;
  EXPECT_EQ(lim->try_acquire(Ask{{"tokens", 1}}, &q, nullptr), Status::kAgain)
      << "the requests window kept its 3 grants: 4 of 4";
  for (core::PermitId h : held) lim->release(h, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 30u) << "an old permit's release gave back uncharged";
  lim->release(p, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
  EXPECT_EQ(lim->stats().in_flight, 0u);
}

TEST_F(RedisPolicy, AStreamOfCloseGrantsLetsItsFirstGrantsLeaveInTime) {
  // A few large grants, then a stream of one-token grants W/2048 apart for more than a
  // window. Were every grant less than W/1024 after the newest entry's newest grant
  // merged into it, the stream would keep one entry, and the first grants in it, counted
  // for as long as it ran. An entry takes grants only within W/1024 of its first, so
  // once the server's clock is W + W/1024 past the large grants (read with TIME, the
  // clock the script uses) none of them counts: what is used is the stream's alone.
  auto reg = open_reg(uri());
  constexpr int64_t kWindow = 2048 * kPolMs;  // W/1024 = 2 ms
  constexpr uint64_t kLarge = 1000;
  core::LimiterPtr lim =
      make(*reg, "stream", make_policy({{"tokens", uint64_t{1} << 40, kWindow}}));
  RedisClient c(redis().port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) lim->release(take(*lim, Ask{{"tokens", kLarge}}), std::nullopt);
  const int64_t large_done = c.time_us();  // no large grant is later
  ASSERT_GT(large_done, 0);
  const int64_t all_left = large_done + (kWindow + kWindow / 1024) / 1000;
  uint64_t streamed = 0;
  for (int64_t server = large_done; server < all_left;) {
    lim->release(take(*lim, Ask{{"tokens", 1}}), std::nullopt);
    ++streamed;
    pol_sleep(kWindow / 2048);
    if (streamed % 8 == 0) {
      server = c.time_us();
      ASSERT_GT(server, 0) << "the server did not answer TIME";
    }
  }
  const core::LimitUsage u = lim->usage("tokens", kWindow);
  EXPECT_LE(u.used, streamed) << "the first grants (3 x " << kLarge
                              << ") still count W + W/1024 after them";
  EXPECT_GE(u.used, 1u) << "the stream's last grant still counts";
}

TEST_F(RedisPolicy, ALimiterOfThe01LayoutIsRefusedClearly) {
  auto reg = open_reg(uri());
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string tag = "{pol-" + std::string(info->name()) + ":legacy}:";
  RedisClient c(redis().port());
  // What a 0.1 client writes: its limits in s, its state in s.b, holders in h.
  c.command({"HSET", tag + "s", "mc", "3", "mpw", "0", "ws", "1", "mcpw", "0", "b", "x"});
  c.command({"ZADD", tag + "h", "1", "42"});
  c.command({"ZADD", "{pol-" + std::string(info->name()) + "}:registry", "0", "legacy"});
  try {
    reg->get("legacy");
    ADD_FAILURE() << "a 0.1 limiter was read";
  } catch (const core::StatusError& e) {
    EXPECT_EQ(e.status(), Status::kBackend);
    EXPECT_NE(std::string(e.what()).find("0.1"), std::string::npos) << e.what();
  }
  const core::PolicySpec p = make_policy({{"requests", 1, 0}});
  EXPECT_EQ(status_of([&] { reg->register_limiter("legacy", p, true); }), Status::kBackend);
  EXPECT_EQ(status_of([&] { reg->get_or_create("legacy", p); }), Status::kBackend);
  EXPECT_TRUE(reg->list().empty()) << "a 0.1 limiter is not ours to list";
  EXPECT_TRUE(reg->remove("legacy"));
  EXPECT_EQ(c.command({"EXISTS", tag + "h"}), "0");
  reg->register_limiter("legacy", p, false);
  EXPECT_TRUE(reg->get("legacy"));
}

}  // namespace
}  // namespace ptl_test
