// SPDX-License-Identifier: MIT
// The limiter code keeps the state it last wrote in its locals between calls and skips
// decoding b when b is still exactly that (lua/common.lua, ADR 21). These tests drive the
// code itself through a Link (white-box: no registry, no client cache) and read which
// state a call started from in the grant ids it returns: ids count up by one per grant,
// so an id one too high or too low means the call used locals instead of b.
#include <cstdint>
#include <string>

#include "core/status.hpp"
#include "redis_util.hpp"
#include "registry/redis/keys.hpp"
#include "registry/redis/link.hpp"
#include "registry/redis/reply.hpp"

namespace ptl_test {
namespace {

namespace r = ptl::core::redis;

// One limiter (a concurrency of 64, no window), called as the library calls it.
class Code {
 public:
  Code(r::Link& link, const std::string& name)
      : link_(link), keys_(link.options().prefix, name, link.options().db) {
    const r::Reply created = run({"reg", "replace", "1", "0", "1", "requests", "64", "0", "0"});
    EXPECT_EQ(created.view().at(0).str(), "created");
    // Asked with no version, the code answers {'stale', POLICY}: POLICY starts with it.
    const r::Reply stale = run({"acq", "-1", ""});
    const std::string policy(stale.view().at(1).str());
    version_ = policy.substr(0, policy.find(' '));
  }

  // A grant's id.
  int64_t acquire() {
    const r::Reply g = run({"acq", version_, "", "1"});
    EXPECT_TRUE(g.view().is_integer()) << g.view().describe();
    return g.view().is_integer() ? g.view().integer() : -1;
  }

  const std::string& key(size_t i) const { return keys_.keys[i]; }

 private:
  // ARGV: op, channel, session, lease (us), then the op's own.
  r::Reply run(std::initializer_list<std::string> op_args) {
    auto it = op_args.begin();
    r::Argv args{*it++, keys_.channel, "script-state-session", "30000000"};
    args.insert(args.end(), it, op_args.end());
    return link_.eval(keys_.argv(), args);
  }

  r::Link& link_;
  r::Keys keys_;
  std::string version_;
};

TEST(RedisScriptState, StateWrittenByAnotherHandIsDecodedAgain) {
  r::Link link(r::parse_redis_uri(redis().uri()));
  RedisClient admin(redis().port());
  Code code(link, unique_name("state-rewound"));
  const std::string s = code.key(0);
  const std::string copy = s + ":copy";
  const int64_t first = code.acquire();
  ASSERT_EQ(admin.command({"COPY", s, copy, "REPLACE"}), "1");
  EXPECT_EQ(code.acquire(), first + 1);
  // Another writer (another version of the code, a restore) puts an older state back:
  // the next call must start from it, not from what the code itself wrote last.
  ASSERT_EQ(admin.command({"COPY", copy, s, "REPLACE"}), "1");
  EXPECT_EQ(code.acquire(), first + 1) << "the call used the state the code had kept";
  EXPECT_EQ(code.acquire(), first + 2);
  admin.command({"DEL", copy});
}

TEST(RedisScriptState, ACallThatFailsHalfwayLeavesItsLocalsToNobody) {
  r::Link link(r::parse_redis_uri(redis().uri()));
  RedisClient admin(redis().port());
  Code code(link, unique_name("state-failed"));
  const std::string holders = code.key(1);
  const int64_t first = code.acquire();
  // The holders as a string: the next grant counts its id up in the locals, then fails
  // on ZADD (WRONGTYPE), so b is not written.
  ASSERT_EQ(admin.command({"DEL", holders}), "1");
  ASSERT_EQ(admin.command({"SET", holders, "not a zset"}), "OK");
  EXPECT_THROW(code.acquire(), ptl::core::StatusError);
  ASSERT_EQ(admin.command({"DEL", holders}), "1");
  EXPECT_EQ(code.acquire(), first + 1) << "the failed call's locals were used";
}

TEST(RedisScriptState, LimitersCalledInTurnEachKeepTheirOwnState) {
  r::Link link(r::parse_redis_uri(redis().uri()));
  Code a(link, unique_name("state-a"));
  Code b(link, unique_name("state-b"));
  const int64_t a0 = a.acquire();
  const int64_t b0 = b.acquire();
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(a.acquire(), a0 + 2 * i - 1);
    EXPECT_EQ(a.acquire(), a0 + 2 * i);
    EXPECT_EQ(b.acquire(), b0 + i);
  }
}

}  // namespace
}  // namespace ptl_test
