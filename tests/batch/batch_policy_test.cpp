// SPDX-License-Identifier: MIT
// The executors with policies (0.2): items state their estimate for the shared limiter,
// settle their real usage, and hand their response headers to the batch; an options struct
// of 0.1's size still works.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "batch_util.hpp"
#include "capi_util.hpp"

namespace {

using ptl_test::batch_options;
using ptl_test::kMs;
using ptl_test::kSec;
using ptl_test::Lim;

Lim policy_limiter(const std::vector<ptl_limit>& limits) {
  const ptl_policy p = ptl_test::policy_of(limits);
  Lim lim;
  EXPECT_EQ(ptl_limiter_create_policy(&p, lim.out()), PTL_OK) << ptl_last_error();
  return lim;
}

uint64_t used(ptl_limiter* lim, const char* unit, int64_t window_ns) {
  ptl_usage u{};
  u.struct_size = sizeof u;
  EXPECT_EQ(ptl_limiter_usage(lim, unit, window_ns, &u), PTL_OK) << ptl_last_error();
  return u.used;
}

// Item i estimates 100 + i tokens and uses 50 + i; the shared policy holds 300 tokens at
// once, so at most two estimates fit together whatever the batch's own concurrency.
struct TokenItems {
  ptl_limiter* shared = nullptr;
  std::atomic<int64_t> held{0}, peak{0};
  std::atomic<uint64_t> used_total{0};

  static size_t estimate(void*, size_t index, ptl_amount* out, size_t cap) {
    EXPECT_GE(cap, 1u);
    out[0] = {"tokens", 100 + index};
    return 1;
  }
  static int run(void* user, ptl_batch* batch, size_t index, uint32_t, int64_t*) {
    auto* self = static_cast<TokenItems*>(user);
    const int64_t estimate = 100 + static_cast<int64_t>(index);
    const int64_t now = self->held.fetch_add(estimate) + estimate;
    int64_t p = self->peak.load();
    while (now > p && !self->peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    self->held.fetch_sub(estimate);
    const ptl_amount actual{"tokens", 50 + index};
    self->used_total.fetch_add(50 + index);
    return ptl_batch_settle(batch, index, &actual, 1);
  }
};

TEST(BatchPolicy, ItemsAskTheirEstimateAndSettleTheirUsage) {
  Lim shared = policy_limiter({{"tokens", 300, 0}, {"tokens", 100000, 60 * kSec}});
  TokenItems items;
  items.shared = shared;
  ptl_batch_options o = batch_options(8);
  o.shared = shared;
  o.estimate = &TokenItems::estimate;
  constexpr size_t kN = 40;
  int statuses[kN];
  ASSERT_EQ(ptl_batch_run(&o, kN, &TokenItems::run, &items, statuses, nullptr), PTL_OK)
      << ptl_last_error();
  for (int s : statuses) EXPECT_EQ(s, PTL_OK);
  EXPECT_LE(items.peak.load(), 300) << "the estimates held at once exceeded the policy";
  EXPECT_EQ(used(shared, "tokens", 60 * kSec), items.used_total.load())
      << "the window holds the settled usage, not the estimates";
  EXPECT_EQ(used(shared, "tokens", 0), 0u);
}

TEST(BatchPolicy, AnEstimateThePolicyRefusesFailsTheItem) {
  Lim shared = policy_limiter({{"tokens", 50, 60 * kSec}});
  TokenItems items;
  ptl_batch_options o = batch_options(2);
  o.shared = shared;
  o.estimate = &TokenItems::estimate;  // 100+ tokens: more than the max of 50
  int statuses[2];
  EXPECT_EQ(ptl_batch_run(&o, 2, &TokenItems::run, &items, statuses, nullptr), PTL_EITEMS);
  EXPECT_EQ(statuses[0], PTL_EINVAL);
  EXPECT_EQ(statuses[1], PTL_EINVAL);
  o.shared = nullptr;
  EXPECT_EQ(ptl_batch_run(&o, 2, &TokenItems::run, &items, statuses, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("shared"), std::string::npos);
}

// The first attempt of item 0 is answered 429 with OpenAI headers and a Retry-After.
int rate_limited_once(void* user, ptl_batch* batch, size_t index, uint32_t attempt, int64_t*) {
  auto* applied = static_cast<std::atomic<int>*>(user);
  if (index == 0 && attempt == 1) {
    const char* names[] = {"x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                           "retry-after"};
    const char* values[] = {"0", "200ms", "1"};
    applied->store(ptl_batch_observe_headers(batch, index, 3, names, values));
    return 429;
  }
  return PTL_OK;
}

TEST(BatchPolicy, RetryAfterInTheHeadersBacksOffAndPausesTheSharers) {
  Lim shared = policy_limiter({{"requests", 1000, 60 * kSec}});
  ptl_adaptive_config a;
  ptl_adaptive_config_init(&a);
  a.initial_concurrent = 4;
  ptl_batch_options o = batch_options(4);
  o.adaptive = &a;
  o.shared = shared;
  o.max_attempts = 2;
  std::atomic<int> applied{-100};
  ptl_batch_report r{};
  r.struct_size = sizeof r;
  const int64_t t0 = ptl_test::mono_ns();
  ASSERT_EQ(ptl_batch_run(&o, 6, &rate_limited_once, &applied, nullptr, &r), PTL_OK)
      << ptl_last_error();
  EXPECT_EQ(applied.load(), 2) << "the requests count and the Retry-After";
  EXPECT_GE(r.backoffs, 1u) << "the adaptive controller did not hear the Retry-After";
  EXPECT_GE(r.rate_limited, 1u);
  EXPECT_GE(ptl_test::mono_ns() - t0, 900 * kMs) << "the 1 s pause did not hold the retry";
}

TEST(BatchPolicy, AnOptionsStructOfTheFirstLayoutStillWorks) {
  // A caller built against 0.1's header: its struct ends at parent_index.
  ptl_batch_options o = batch_options(2);
  o.struct_size = static_cast<uint32_t>(offsetof(ptl_batch_options, parent_index) + sizeof(size_t));
  o.estimate = &TokenItems::estimate;  // beyond its size: must be ignored, not read
  auto ok = [](void*, ptl_batch*, size_t, uint32_t, int64_t*) { return PTL_OK; };
  EXPECT_EQ(ptl_batch_run(&o, 3, ok, nullptr, nullptr, nullptr), PTL_OK) << ptl_last_error();
  o.struct_size = sizeof(ptl_batch_options) + 8;
  EXPECT_EQ(ptl_batch_run(&o, 3, ok, nullptr, nullptr, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("newer header"), std::string::npos);
}

}  // namespace
