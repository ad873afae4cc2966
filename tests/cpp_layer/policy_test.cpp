// SPDX-License-Identifier: MIT
// Policies in C++ (ptl_policy.hpp): round trips through every way of making a limiter,
// acquires with amounts, settle before and after release, observations, usage and the
// provider policies of ptl_presets.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cpp_test_util.hpp"

namespace ptl_cpp_test {
namespace {

using namespace std::chrono_literals;

static_assert(ptl::PolicyLike<ptl::Policy>);
static_assert(ptl::PolicyLike<std::array<ptl::Limit, 2>>);
static_assert(ptl::PolicyLike<ptl::PresetPolicy>);
static_assert(!ptl::PolicyLike<ptl::LimiterConfig>);

// A typical LLM key: 2 calls at once, 100 requests and 1000 tokens a minute.
const ptl::Policy kLlm = {{"requests", 2}, {"requests", 100, 1min}, {"tokens", 1000, 1min}};

TEST(CppPolicy, RoundTripsThroughEveryWayOfMakingALimiter) {
  EXPECT_EQ(ptl::Limiter::create(kLlm).policy(), kLlm);
  const std::array<ptl::Limit, 2> fixed = {
      {{"input_tokens", 5000, 1min}, {"output_tokens", 800, 1min}}};
  const ptl::Policy from_array(fixed.begin(), fixed.end());
  EXPECT_EQ(ptl::Limiter::create(fixed).policy(), from_array);

  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("llm", kLlm);
  EXPECT_EQ(reg.get("llm").policy(), kLlm);
  try {
    reg.register_limiter("llm", kLlm);
    ADD_FAILURE() << "registered twice";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EEXIST);
  }
  reg.register_limiter("llm", fixed, /*replace=*/true);
  EXPECT_EQ(reg.get("llm").policy(), from_array);

  // get_or_create registers once and keeps the first policy.
  ptl::Limiter made = reg.get_or_create("other", kLlm);
  EXPECT_EQ(reg.get_or_create("other", fixed).policy(), kLlm);
  made.set_policy(ptl::Policy{{"requests", 7, 24h}});
  EXPECT_EQ(reg.get("other").policy(), (ptl::Policy{{"requests", 7, 24h}}));
  EXPECT_TRUE(reg.get("other").policy()[0].window == 86400s);
  EXPECT_FALSE(reg.get("other").policy()[0].held());

  // A config still goes to the 0.1 overloads, braces included.
  reg.register_limiter("config", {});
  reg.register_limiter("config", {.max_concurrent = 3}, true);
  EXPECT_EQ(reg.get("config").stats().config.max_concurrent, 3u);
  const ptl::Policy as_policy = reg.get("config").policy();
  EXPECT_NE(std::find(as_policy.begin(), as_policy.end(), ptl::Limit{"requests", 3}),
            as_policy.end());
}

TEST(CppPolicy, BadPoliciesAreEinvalNamingTheProblem) {
  const auto status_of = [](const ptl::Policy& p) {
    try {
      ptl::Limiter::create(p);
    } catch (const ptl::Error& e) {
      EXPECT_NE(std::string(e.what()), "") << e.status_name();
      return e.status();
    }
    return PTL_OK;
  };
  EXPECT_EQ(status_of({}), PTL_EINVAL);
  EXPECT_EQ(status_of({{"Tokens", 10, 1min}}), PTL_EINVAL);
  EXPECT_EQ(status_of({{"tokens", 0, 1min}}), PTL_EINVAL);
  EXPECT_EQ(status_of({{"tokens", 10, -1s}}), PTL_EINVAL);
  EXPECT_EQ(status_of({{"tokens", 10, 1min}, {"tokens", 20, 1min}}), PTL_EINVAL);
  EXPECT_EQ(status_of({{std::string("tok\0ens", 7), 10, 1min}}), PTL_EINVAL);
  ptl::Limiter lim = ptl::Limiter::create(kLlm);
  EXPECT_THROW(lim.set_policy(ptl::Policy{}), ptl::Error);
  EXPECT_EQ(lim.policy(), kLlm) << "a refused policy changes nothing";
}

TEST(CppPolicy, AmountsCountAgainstEveryLimitTogether) {
  ptl::Limiter lim = ptl::Limiter::create(kLlm);
  ptl::Permit a = lim.acquire({{"tokens", 600}});
  EXPECT_TRUE(a);
  EXPECT_FALSE(lim.try_acquire({{"tokens", 500}}).has_value()) << "1100 tokens of 1000";
  const ptl::TryAcquireResult blocked = lim.try_acquire_with_retry_after({{"tokens", 500}});
  EXPECT_FALSE(blocked);
  ASSERT_TRUE(blocked.retry_after.has_value()) << "the window frees the tokens";
  EXPECT_GT(*blocked.retry_after, 0ns);
  EXPECT_LE(*blocked.retry_after, 1min);

  // From a vector, and with the request count given.
  const std::vector<ptl::Amount> demand = {{"tokens", 400}, {"requests", 1}};
  std::optional<ptl::Permit> b = lim.try_acquire(demand);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(lim.usage("tokens", 1min).used, 1000u);
  EXPECT_EQ(lim.usage("requests", 1min).used, 2u);
  EXPECT_EQ(lim.usage("requests", 0ns).used, 2u);

  // Both held slots are taken: a demand without tokens waits for a release.
  const ptl::TryAcquireResult full = lim.try_acquire_with_retry_after({});
  EXPECT_FALSE(full);
  EXPECT_FALSE(full.retry_after.has_value()) << "only a release makes room";
  try {
    (void)lim.acquire({{"tokens", 0}}, 0ms);
    ADD_FAILURE() << "granted a third held slot";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EAGAIN);
  }
  try {
    (void)lim.acquire({{"tokens", 0}}, 20ms);
    ADD_FAILURE() << "granted a third held slot";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ETIMEDOUT);
  }
  EXPECT_FALSE(lim.try_acquire_for(10ms, {{"tokens", 0}}).has_value());
  b.reset();
  EXPECT_TRUE(lim.try_acquire_for(10ms, {{"requests", 1}}).has_value());

  // A unit the policy lacks, one given twice, or above a max: EINVAL, nothing held.
  for (const std::vector<ptl::Amount>& bad : std::vector<std::vector<ptl::Amount>>{
           {{"images", 1}}, {{"tokens", 1}, {"tokens", 1}}, {{"tokens", 1001}}}) {
    try {
      (void)lim.acquire(bad, 0ms);
      ADD_FAILURE() << bad[0].unit;
    } catch (const ptl::Error& e) {
      EXPECT_EQ(e.status(), PTL_EINVAL) << e.what();
    }
  }
  EXPECT_THROW((void)lim.acquire({{std::string("tok\0ens", 7), 1}}), ptl::Error);
  EXPECT_EQ(lim.stats().in_flight, 1u);
}

TEST(CppPolicy, SettleBeforeReleaseReplacesTheEstimate) {
  ptl::Limiter lim = ptl::Limiter::create(kLlm);
  ptl::Permit p = lim.acquire({{"tokens", 800}});
  p.settle({{"tokens", 300}});
  EXPECT_TRUE(p) << "settling does not release";
  EXPECT_EQ(lim.usage("tokens", 1min).used, 300u);
  EXPECT_TRUE(lim.try_acquire({{"tokens", 700}}).has_value()) << "less frees room at once";
  p.release();
  EXPECT_EQ(lim.usage("tokens", 1min).used, 1000u);
  EXPECT_THROW(p.settle({{"tokens", 1}}), ptl::Error) << "each unit settles once";
}

TEST(CppPolicy, SettleAfterReleaseUsesTheKeptPermit) {
  ptl::Limiter lim = ptl::Limiter::create(kLlm);
  ptl::Permit p = lim.acquire({{"tokens", 800}});
  const ptl_permit value = p.value();
  p.release();
  EXPECT_FALSE(p);
  EXPECT_EQ(p.value(), 0u);
  EXPECT_EQ(lim.stats().in_flight, 0u);
  EXPECT_EQ(p.limiter(), lim) << "kept for settle";

  // Moving carries the released permit along.
  ptl::Permit moved = std::move(p);
  EXPECT_THROW(p.settle({{"tokens", 1}}), ptl::Error);  // NOLINT(bugprone-use-after-move)
  moved.settle({{"tokens", 1200}});                     // more than estimated is allowed
  EXPECT_EQ(lim.usage("tokens", 1min).used, 1200u);
  EXPECT_FALSE(lim.try_acquire({{"tokens", 1}}).has_value()) << "over the max: later grants wait";
  try {
    moved.settle({{"tokens", 5}});
    ADD_FAILURE() << "settled twice";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
  }
  EXPECT_THROW(moved.release(), ptl::Error) << "released once already";

  // An empty permit has nothing to settle; the C value still settles through the C ABI.
  EXPECT_THROW(ptl::Permit().settle({{"tokens", 1}}), ptl::Error);
  const ptl_amount requests{"requests", 1};
  EXPECT_EQ(ptl_settle(lim.native_handle(), value, &requests, 1), PTL_OK) << ptl_last_error();
}

TEST(CppPolicy, ObservationsTightenAndShowInUsage) {
  ptl::Limiter lim = ptl::Limiter::create(kLlm);
  EXPECT_FALSE(lim.usage("tokens", 1min).observed_cap.has_value());
  const std::vector<std::pair<std::string, std::string>> openai = {
      {"x-ratelimit-remaining-tokens", "500"},
      {"X-RateLimit-Reset-Tokens", "6m0s"},
      {"x-request-id", "abc"},                              // unknown: ignored
      {"anthropic-ratelimit-input-tokens-remaining", "9"},  // a unit this policy lacks
      {"anthropic-ratelimit-input-tokens-reset", "2030-01-01T00:00:00Z"}};
  EXPECT_EQ(lim.observe_headers(openai), 1);
  ptl::Usage u = lim.usage("tokens", 1min);
  ASSERT_TRUE(u.observed_cap.has_value());
  EXPECT_EQ(*u.observed_cap, 500u);
  EXPECT_FALSE(lim.try_acquire({{"tokens", 501}}).has_value()) << "the provider's count binds";

  // Other containers of string-likes, and the braced form.
  const std::map<std::string, std::string> as_map = {{"x-ratelimit-remaining-requests", "40"},
                                                     {"x-ratelimit-reset-requests", "1s"}};
  EXPECT_EQ(lim.observe_headers(as_map), 1);
  EXPECT_EQ(lim.observe_headers(
                {{"x-ratelimit-remaining-tokens", "100"}, {"x-ratelimit-reset-tokens", "20ms"}}),
            1);
  const std::vector<std::pair<const char*, std::string_view>> none = {{"server", "x"}};
  EXPECT_EQ(lim.observe_headers(none), 0);

  lim.observe("tokens", 5, 1min);
  EXPECT_EQ(lim.usage("tokens", 1min).observed_cap, 5u);
  lim.observe("tokens", 50, 1min);
  EXPECT_EQ(lim.usage("tokens", 1min).observed_cap, 5u) << "only tightens";
  EXPECT_FALSE(lim.try_acquire({{"tokens", 6}}).has_value());
  EXPECT_THROW(lim.observe("images", 1, 1s), ptl::Error);
}

TEST(CppPolicy, UsageReportsUsedMaxAndNextRoom) {
  ptl::Limiter lim = ptl::Limiter::create(
      ptl::Policy{{"requests", 1}, {"requests", 1, 1min}, {"tokens", 1000, 1min}});
  ptl::Usage held = lim.usage("requests", 0ns);
  EXPECT_EQ(held.max, 1u);
  EXPECT_EQ(held.window, 0ns);
  EXPECT_EQ(held.used, 0u);
  EXPECT_EQ(held.next_room, 0ns) << "fits now";
  EXPECT_FALSE(held.observed_cap.has_value());

  ptl::Permit p = lim.acquire({{"tokens", 10}});
  held = lim.usage("requests", 0ns);
  EXPECT_EQ(held.used, 1u);
  EXPECT_FALSE(held.next_room.has_value()) << "only a release makes room";
  const ptl::Usage window = lim.usage("requests", 1min);
  EXPECT_EQ(window.window, 1min);
  EXPECT_EQ(window.used, 1u);
  ASSERT_TRUE(window.next_room.has_value());
  EXPECT_GT(*window.next_room, 0ns);
  EXPECT_LE(*window.next_room, 1min);
  EXPECT_EQ(lim.usage("tokens", 1min).used, 10u);
  try {
    (void)lim.usage("tokens", 1s);
    ADD_FAILURE() << "no such limit";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ENOTFOUND);
  }
}

TEST(CppPolicy, ProviderPoliciesRegisterAsTheyAre) {
  const std::vector<ptl::PresetPolicy> all = ptl::preset_policies();
  ASSERT_FALSE(all.empty());
  for (const ptl::PresetPolicy& p : all) {
    EXPECT_FALSE(p.name.empty());
    EXPECT_FALSE(p.policy.empty()) << p.name;
    EXPECT_EQ(p.source_date.size(), 10u) << p.name;
    EXPECT_EQ(ptl::preset_policy(p.name).policy, p.policy) << p.name;
  }
  const ptl::PresetPolicy openai = ptl::preset_policy("OPENAI_TIER1_GPT_4O");
  EXPECT_EQ(openai.name, "openai_tier1_gpt_4o");
  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("openai", openai);
  EXPECT_EQ(reg.get("openai").policy(), openai.policy);
  EXPECT_EQ(ptl::Limiter::create(ptl::preset_policy(all.back().name)).policy(), all.back().policy);
  try {
    (void)ptl::preset_policy("no_such_provider");
    ADD_FAILURE();
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ENOTFOUND);
  }
}

}  // namespace
}  // namespace ptl_cpp_test
