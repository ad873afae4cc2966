// SPDX-License-Identifier: MIT
// Policies through the C ABI (ABI 0.2, ADR 15): several limits admitted together,
// amounts, settle, and policies in and out, on every backend.
#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "async_util.hpp"
#include "conformance.hpp"
#include "guarantees_util.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Policy);

int acquire_tokens(ptl_limiter* lim, uint64_t tokens, int64_t timeout_ns, ptl_permit* out) {
  const ptl_amount a{"tokens", tokens};
  return ptl_acquire_amounts(lim, &a, 1, timeout_ns, out);
}

int try_tokens(ptl_limiter* lim, uint64_t tokens, ptl_permit* out, int64_t* retry = nullptr) {
  const ptl_amount a{"tokens", tokens};
  return ptl_try_acquire_amounts(lim, &a, 1, out, retry);
}

uint64_t used(ptl_limiter* lim, const char* unit, int64_t window_ns) {
  ptl_usage u{};
  u.struct_size = sizeof u;
  EXPECT_EQ(ptl_limiter_usage(lim, unit, window_ns, &u), PTL_OK) << ptl_last_error();
  return u.used;
}

TEST_P(Policy, ThePolicyReadsBackAsRegistered) {
  const std::vector<ptl_limit> limits = {{"requests", 500, 60 * kSec},
                                         {"tokens", 30000, 60 * kSec},
                                         {"requests", 10000, 86400 * kSec},
                                         {"input_tokens", 4000, 0}};
  Lim lim = make_policy(limits);
  size_t n = 0;
  ASSERT_EQ(ptl_limiter_get_policy(lim, nullptr, 0, &n), PTL_OK) << ptl_last_error();
  ASSERT_EQ(n, limits.size());
  std::vector<ptl_limit> back(2);
  ASSERT_EQ(ptl_limiter_get_policy(lim, back.data(), back.size(), &n), PTL_OK);
  EXPECT_EQ(n, limits.size()) << "the count, not what was copied";
  back.resize(n);
  ASSERT_EQ(ptl_limiter_get_policy(lim, back.data(), back.size(), &n), PTL_OK);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_STREQ(back[i].unit, limits[i].unit) << i;
    EXPECT_EQ(back[i].max, limits[i].max) << i;
    EXPECT_EQ(back[i].window_ns, limits[i].window_ns) << i;
  }
  // The 0.1 view of it: the requests of the first window, no concurrency limit.
  const ptl_limiter_stats st = stats_of(lim);
  EXPECT_EQ(st.config.max_per_window, 500u);
  EXPECT_EQ(st.config.max_cost_per_window, 30000u);
  EXPECT_EQ(st.config.window_seconds, 60.0);
}

TEST_P(Policy, AConfigIsAPolicyOfUpToThreeLimits) {
  Lim lim = make(make_cfg(4, 60, 30.0, 1000));
  ptl_limit back[4];
  size_t n = 0;
  ASSERT_EQ(ptl_limiter_get_policy(lim, back, 4, &n), PTL_OK) << ptl_last_error();
  ASSERT_EQ(n, 3u);
  EXPECT_STREQ(back[0].unit, "requests");
  EXPECT_EQ(back[0].max, 4u);
  EXPECT_EQ(back[0].window_ns, 0);
  EXPECT_STREQ(back[1].unit, "requests");
  EXPECT_EQ(back[1].max, 60u);
  EXPECT_EQ(back[1].window_ns, 30 * kSec);
  EXPECT_STREQ(back[2].unit, "tokens");
  EXPECT_EQ(back[2].max, 1000u);
  // ptl_acquire costs one token there, as 0.1's plain acquire costs 1 unit.
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  EXPECT_EQ(used(lim, "tokens", 30 * kSec), 1u);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Policy, AConfigReadsBackExactlyWhateverItsWindow) {
  // A 0.1 config is a policy whose windows are whole nanoseconds; its window_seconds still
  // reads back as given (ptl_fuzz_capi found 1.5 ns coming back as 2 ns:
  // tests/fuzz/regressions/capi/config-window-below-a-nanosecond-reads-back).
  for (const double window : {1.5e-9, 1e-9 * 1.0000001, 0.1, 123.456789012345678, 7.0}) {
    for (const uint64_t per_window : {uint64_t{0}, uint64_t{5}}) {
      const ptl_limiter_config cfg = make_cfg(3, per_window, window, per_window * 10);
      Lim lim = make(cfg);
      const ptl_limiter_stats st = stats_of(lim);
      EXPECT_EQ(st.config.window_seconds, window) << per_window;
      EXPECT_EQ(st.config.max_per_window, per_window);
      EXPECT_EQ(st.config.max_cost_per_window, per_window * 10);
      EXPECT_EQ(st.config.max_concurrent, 3u);
    }
  }
}

TEST_P(Policy, BadPoliciesAreRefusedNamingTheProblem) {
  struct Case {
    std::vector<ptl_limit> limits;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{}, "at least one limit"},
      {std::vector<ptl_limit>(17, ptl_limit{"requests", 1, 0}), "at most 16"},
      {{{"Tokens", 10, kSec}}, "a-z, 0-9"},
      {{{"", 10, kSec}}, "empty"},
      {{{"a_unit_name_that_is_far_too_long_x", 10, kSec}}, "longer than 32"},
      {{{"tokens", 0, kSec}}, "at least 1"},
      {{{"tokens", 10, -1}}, "window_ns"},
      {{{"tokens", 10, kSec}, {"tokens", 20, kSec}}, "appears twice"},
      {{{nullptr, 10, kSec}}, "NULL"},
  };
  for (const Case& c : cases) {
    const ptl_policy p = policy_of(c.limits);
    EXPECT_EQ(ptl_registry_register_policy(reg(), "bad", &p, 0), PTL_EINVAL) << c.says;
    EXPECT_NE(std::string(ptl_last_error()).find(c.says), std::string::npos) << ptl_last_error();
    EXPECT_EQ(ptl_registry_exists(reg(), "bad"), 0) << c.says;
  }
  ptl_policy p;
  ptl_policy_init(&p);
  p.struct_size = 4;
  EXPECT_EQ(ptl_registry_register_policy(reg(), "bad", &p, 0), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("struct_size"), std::string::npos);
}

TEST_P(Policy, AmountsTheyCannotHoldAreInvalid) {
  Lim lim = make_policy({{"requests", 10, kSec}, {"tokens", 100, kSec}});
  ptl_permit p = 0;
  const ptl_amount unknown{"output_tokens", 1};
  EXPECT_EQ(ptl_acquire_amounts(lim, &unknown, 1, 0, &p), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("output_tokens"), std::string::npos);
  EXPECT_EQ(acquire_tokens(lim, 101, 0, &p), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("exceeds"), std::string::npos);
  const ptl_amount twice[] = {{"tokens", 1}, {"tokens", 2}};
  EXPECT_EQ(ptl_acquire_amounts(lim, twice, 2, 0, &p), PTL_EINVAL);
  EXPECT_EQ(ptl_acquire_amounts(lim, nullptr, 1, 0, &p), PTL_EINVAL);
  EXPECT_EQ(used(lim, "requests", kSec), 0u) << "a refused acquire left a trace";
  ASSERT_EQ(acquire_tokens(lim, 100, 0, &p), PTL_OK) << "the max itself fits";
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Policy, AGrantTakesRoomInEveryLimitOrWaitsHoldingNothing) {
  Lim lim = make_policy({{"requests", 3, 60 * kSec}, {"tokens", 100, 60 * kSec}});
  ptl_permit a = 0, b = 0, c = 0;
  ASSERT_EQ(acquire_tokens(lim, 70, 0, &a), PTL_OK);
  int64_t retry = 0;
  // Requests have room, tokens do not: nothing is taken from the requests limit.
  EXPECT_EQ(try_tokens(lim, 40, &b, &retry), PTL_EAGAIN);
  EXPECT_GT(retry, 0);
  EXPECT_EQ(used(lim, "requests", 60 * kSec), 1u);
  ASSERT_EQ(try_tokens(lim, 30, &b), PTL_OK);
  ASSERT_EQ(try_tokens(lim, 0, &c), PTL_OK) << "no tokens, one request";
  ptl_permit d = 0;
  EXPECT_EQ(try_tokens(lim, 0, &d), PTL_EAGAIN) << "3 requests per window";
  EXPECT_EQ(used(lim, "tokens", 60 * kSec), 100u);
  for (ptl_permit p : {a, b, c}) ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Policy, HeldUnitsComeBackOnRelease) {
  Lim lim = make_policy({{"tokens", 100, 0}});
  ptl_permit a = 0, b = 0;
  ASSERT_EQ(acquire_tokens(lim, 60, 0, &a), PTL_OK);
  EXPECT_EQ(try_tokens(lim, 41, &b), PTL_EAGAIN);
  EXPECT_EQ(used(lim, "tokens", 0), 60u);
  ASSERT_EQ(ptl_release(lim, a), PTL_OK);
  EXPECT_EQ(used(lim, "tokens", 0), 0u);
  ASSERT_EQ(try_tokens(lim, 100, &b), PTL_OK);
  ASSERT_EQ(ptl_release(lim, b), PTL_OK);
}

TEST_P(Policy, SettlingMoreHoldsLaterGrantsBackUntilTheWindowIsUnder) {
  use_test_time();
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = make_policy({{"tokens", 100, kWindow}});
  ptl_permit p = 0;
  const int64_t t0 = now();
  ASSERT_EQ(acquire_tokens(lim, 10, 0, &p), PTL_OK);
  const ptl_amount actual{"tokens", 150};
  ASSERT_EQ(ptl_settle(lim, p, &actual, 1), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(used(lim, "tokens", kWindow), 150u);
  ptl_permit q = 0;
  int64_t retry = 0;
  EXPECT_EQ(try_tokens(lim, 0, &q, &retry), PTL_EAGAIN) << "150 of 100 used: over the max";
  EXPECT_GT(retry, 0);
  Holder fifty(lim, [&](ptl_permit* out) { return acquire_tokens(lim, 50, 10 * kSec, out); });
  ASSERT_TRUE(wait_waiting(lim, 1));
  // The excess counts at the grant's time, and leaves the window at t0 + W + 1 ns.
  ASSERT_TRUE(ends_at(fifty, t0 + kWindow + 1)) << "granted before the excess left the window";
  EXPECT_EQ(fifty.rc(), PTL_OK);
}

TEST_P(Policy, SettlingLessFreesRoomAtOnce) {
  Lim lim = make_policy({{"tokens", 100, 60 * kSec}, {"requests", 10, 0}});
  ptl_permit a = 0, b = 0;
  ASSERT_EQ(acquire_tokens(lim, 100, 0, &a), PTL_OK);
  EXPECT_EQ(try_tokens(lim, 60, &b), PTL_EAGAIN);
  const ptl_amount actual{"tokens", 40};
  ASSERT_EQ(ptl_settle(lim, a, &actual, 1), PTL_OK) << ptl_last_error();
  ASSERT_EQ(try_tokens(lim, 60, &b), PTL_OK) << "the 60 the call did not use are free";
  EXPECT_EQ(try_tokens(lim, 1, &b), PTL_EAGAIN);
  for (ptl_permit p : {a, b}) ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Policy, EachUnitSettlesOnceBeforeOrAfterTheRelease) {
  Lim lim = make_policy({{"input_tokens", 1000, 60 * kSec}, {"output_tokens", 1000, 60 * kSec}});
  ptl_permit p = 0;
  const ptl_amount est[] = {{"input_tokens", 100}, {"output_tokens", 500}};
  ASSERT_EQ(ptl_acquire_amounts(lim, est, 2, 0, &p), PTL_OK) << ptl_last_error();
  const ptl_amount in{"input_tokens", 90};
  ASSERT_EQ(ptl_settle(lim, p, &in, 1), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_settle(lim, p, &in, 1), PTL_EINVAL) << "input_tokens settled twice";
  EXPECT_NE(std::string(ptl_last_error()).find("settled"), std::string::npos) << ptl_last_error();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  const ptl_amount out{"output_tokens", 320};
  ASSERT_EQ(ptl_settle(lim, p, &out, 1), PTL_OK) << "after the release: " << ptl_last_error();
  EXPECT_EQ(used(lim, "input_tokens", 60 * kSec), 90u);
  EXPECT_EQ(used(lim, "output_tokens", 60 * kSec), 320u);
  const ptl_amount unknown{"tokens", 1};
  EXPECT_EQ(ptl_settle(lim, p, &unknown, 1), PTL_EINVAL);
  EXPECT_EQ(ptl_settle(lim, p + 4242, &in, 1), PTL_EINVAL) << "a permit never granted";
}

TEST_P(Policy, SetPolicyKeepsTheHistoryOfLimitsThatStay) {
  Lim lim = make_policy({{"tokens", 100, 60 * kSec}});
  ptl_permit p = 0;
  ASSERT_EQ(acquire_tokens(lim, 80, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  const std::vector<ptl_limit> more = {{"tokens", 120, 60 * kSec}, {"requests", 5, 60 * kSec}};
  const ptl_policy pm = policy_of(more);
  ASSERT_EQ(ptl_limiter_set_policy(lim, &pm), PTL_OK) << ptl_last_error();
  EXPECT_EQ(used(lim, "tokens", 60 * kSec), 80u) << "the tokens' history was lost";
  EXPECT_EQ(used(lim, "requests", 60 * kSec), 0u) << "a new limit starts empty";
  EXPECT_EQ(try_tokens(lim, 41, &p), PTL_EAGAIN);
  ASSERT_EQ(try_tokens(lim, 40, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Policy, AWaiterThatCanNoLongerFitIsToldSo) {
  Lim lim = make_policy({{"tokens", 100, 60 * kSec}});
  ptl_permit p = 0;
  ASSERT_EQ(acquire_tokens(lim, 100, 0, &p), PTL_OK);
  std::future<int> waiter = std::async(std::launch::async, [&] {
    ptl_permit q = 0;
    return acquire_tokens(lim, 80, 30 * kSec, &q);
  });
  ASSERT_TRUE(wait_waiting(lim, 1));
  const std::vector<ptl_limit> smaller = {{"tokens", 50, 60 * kSec}};
  const ptl_policy ps = policy_of(smaller);
  ASSERT_EQ(ptl_limiter_set_policy(lim, &ps), PTL_OK);
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(waiter.get(), PTL_EINVAL);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Policy, AsyncAcquireWithAmounts) {
  Lim lim = make_policy({{"tokens", 100, 60 * kSec}, {"requests", 1, 0}});
  ptl_permit held = 0;
  ASSERT_EQ(acquire_tokens(lim, 30, 0, &held), PTL_OK);
  Req r;
  const ptl_amount a{"tokens", 70};
  uint64_t ticket = 0;
  ASSERT_EQ(ptl_acquire_amounts_async(lim, &a, 1, 30 * kSec, &Req::cb, &r, &ticket), PTL_OK)
      << ptl_last_error();
  r.returned = true;
  EXPECT_EQ(r.calls.load(), 0) << "one request held at most";
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  ASSERT_TRUE(r.wait(20 * kSec));
  ASSERT_EQ(r.status.load(), PTL_OK);
  EXPECT_EQ(used(lim, "tokens", 60 * kSec), 100u);
  ASSERT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
