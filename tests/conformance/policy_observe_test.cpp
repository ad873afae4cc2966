// SPDX-License-Identifier: MIT
// Policies under load and what providers say: atomic admission of several limits with
// threads of several registries checked by an outside observer; ptl_observe,
// ptl_observe_headers and ptl_limiter_usage on every backend.
#include <algorithm>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "conformance.hpp"
#include "guarantees_util.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(PolicyLoad);
PTL_CONFORMANCE_SUITE(Observe);

ptl_usage usage_of(ptl_limiter* lim, const char* unit, int64_t window_ns) {
  ptl_usage u{};
  u.struct_size = sizeof u;
  EXPECT_EQ(ptl_limiter_usage(lim, unit, window_ns, &u), PTL_OK) << ptl_last_error();
  return u;
}

// One grant as the outside observer saw it: its time (right after the acquire returned,
// so never before the true grant) and the tokens it finally counted (after its settle).
struct Seen {
  int64_t t = 0;
  uint64_t tokens = 0;
};

// The largest sum of `amount(g)` over grants whose times lie within `span` of each other.
template <typename Amount>
uint64_t busiest_span(std::vector<Seen> grants, int64_t span, Amount amount) {
  std::sort(grants.begin(), grants.end(), [](const Seen& a, const Seen& b) { return a.t < b.t; });
  uint64_t best = 0, sum = 0;
  size_t first = 0;
  for (size_t i = 0; i < grants.size(); ++i) {
    sum += amount(grants[i]);
    while (grants[i].t - grants[first].t > span) sum -= amount(grants[first++]);
    best = std::max(best, sum);
  }
  return best;
}

TEST_P(PolicyLoad, EveryLimitHoldsUnderThreadsOfSeveralRegistries) {
  // Four limits at once: requests and tokens per window, tokens and requests held. Threads
  // of two registries (two processes' worth on shm:// and redis://) ask random amounts and
  // settle below their estimate; the observer sums what it saw.
  constexpr int64_t kWindow = 200 * kMs;
  constexpr uint64_t kRequests = 12, kTokens = 1000, kHeldTokens = 500, kHeld = 3;
  Lim lim = make_policy({{"requests", kRequests, kWindow},
                         {"tokens", kTokens, kWindow},
                         {"tokens", kHeldTokens, 0},
                         {"requests", kHeld, 0}},
                        "quota");
  Lim other = get(peer(), "quota");
  std::mutex mu;
  std::vector<Seen> seen;
  std::atomic<int64_t> held_tokens{0}, held{0}, peak_tokens{0}, peak{0};
  auto raise = [](std::atomic<int64_t>& peak_of, int64_t v) {
    int64_t p = peak_of.load();
    while (v > p && !peak_of.compare_exchange_weak(p, v)) {
    }
  };
  hammer(6, 1500 * kMs, [&](int i, std::mt19937& rng) {
    ptl_limiter* l = i % 2 == 0 ? lim.get() : other.get();
    const uint64_t estimate = 1 + rng() % 300;
    const ptl_amount a{"tokens", estimate};
    ptl_permit p = 0;
    const int rc = ptl_acquire_amounts(l, &a, 1, 100 * kMs, &p);
    if (granted(rc, p, "acquire") == 0) return;
    const int64_t t = mono_ns();
    raise(peak_tokens,
          held_tokens.fetch_add(static_cast<int64_t>(estimate)) + static_cast<int64_t>(estimate));
    raise(peak, held.fetch_add(1) + 1);
    short_work(rng);
    const uint64_t actual = estimate - rng() % (estimate + 1);
    const ptl_amount settled{"tokens", actual};
    // The observer lets go first: the settle frees room for others at once.
    held_tokens.fetch_sub(static_cast<int64_t>(estimate - actual));
    EXPECT_EQ(ptl_settle(l, p, &settled, 1), PTL_OK) << ptl_last_error();
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back({t, actual});
    }
    held.fetch_sub(1);
    held_tokens.fetch_sub(static_cast<int64_t>(actual));
    EXPECT_EQ(ptl_release(l, p), PTL_OK) << ptl_last_error();
  });
  ASSERT_GT(seen.size(), 20u) << "too few grants to say anything";
  EXPECT_LE(peak.load(), static_cast<int64_t>(kHeld));
  EXPECT_LE(peak_tokens.load(), static_cast<int64_t>(kHeldTokens));
  const int64_t span = kWindow - kSlack;
  EXPECT_LE(busiest_span(seen, span, [](const Seen&) { return uint64_t{1}; }), kRequests);
  EXPECT_LE(busiest_span(seen, span, [](const Seen& g) { return g.tokens; }), kTokens);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
  EXPECT_EQ(usage_of(lim, "tokens", 0).used, 0u) << "held tokens were not given back";
}

TEST_P(Observe, TheProviderCapHoldsEverySharerUntilItsReset) {
  use_test_time();
  Lim lim = make_policy({{"requests", 100, 60 * kSec}}, "shared");
  Lim other = get(peer(), "shared");
  const int64_t t0 = now();
  ASSERT_EQ(ptl_observe(lim, "requests", 2, 300 * kMs), PTL_OK) << ptl_last_error();
  EXPECT_EQ(usage_of(other, "requests", 60 * kSec).observed_cap, 2u);
  ptl_permit a = 0, b = 0, c = 0;
  ASSERT_EQ(ptl_acquire(other, 0, &a), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &b), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(other, &c, &retry), PTL_EAGAIN) << "the provider said 2";
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 300 * kMs);
  EXPECT_EQ(usage_of(lim, "requests", 60 * kSec).observed_cap, 0u);
  {
    Holder third(other, [&](ptl_permit* out) { return ptl_acquire(other, 10 * kSec, out); });
    ASSERT_TRUE(wait_waiting(lim, 1));
    ASSERT_TRUE(ends_at(third, t0 + 300 * kMs)) << "granted before the provider's reset";
    EXPECT_EQ(third.rc(), PTL_OK);
    EXPECT_EQ(usage_of(lim, "requests", 60 * kSec).observed_cap, UINT64_MAX);
  }
  ASSERT_EQ(ptl_release(other, a), PTL_OK);
  ASSERT_EQ(ptl_release(lim, b), PTL_OK);
}

TEST_P(Observe, ObservationsOnlyTighten) {
  Lim lim = make_policy({{"tokens", 1000, 60 * kSec}});
  ASSERT_EQ(ptl_observe(lim, "tokens", 50, 30 * kSec), PTL_OK);
  ASSERT_EQ(ptl_observe(lim, "tokens", 5000, 30 * kSec), PTL_OK) << "looser: no effect";
  EXPECT_EQ(usage_of(lim, "tokens", 60 * kSec).observed_cap, 50u);
  ptl_permit p = 0;
  const ptl_amount a{"tokens", 51};
  EXPECT_EQ(ptl_try_acquire_amounts(lim, &a, 1, &p, nullptr), PTL_EAGAIN);
  const ptl_amount b{"tokens", 50};
  ASSERT_EQ(ptl_try_acquire_amounts(lim, &b, 1, &p, nullptr), PTL_OK);
  EXPECT_EQ(usage_of(lim, "tokens", 60 * kSec).observed_cap, 0u);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_observe(lim, "requests", 1, kSec), PTL_EINVAL) << "a unit the policy lacks";
  EXPECT_EQ(ptl_observe(lim, "tokens", 1, -1), PTL_EINVAL);
  EXPECT_EQ(ptl_observe(lim, nullptr, 1, kSec), PTL_EINVAL);
}

TEST_P(Observe, ACapCountsWhatItsGrantsUsedOnceTheySettle) {
  // The provider counts what a call used: a cap charged a grant's estimate gets the
  // shortfall back at its settle, and an excess taken too; a grant made before the cap was
  // observed was never charged to it, so its settle leaves the cap alone.
  use_test_time();
  Lim lim = make_policy({{"tokens", 100000, 60 * kSec}});
  auto cap = [&] { return usage_of(lim, "tokens", 60 * kSec).observed_cap; };
  auto take = [&](uint64_t tokens) {
    ptl_permit p = 0;
    const ptl_amount a{"tokens", tokens};
    EXPECT_EQ(ptl_acquire_amounts(lim, &a, 1, 0, &p), PTL_OK) << ptl_last_error();
    return p;
  };
  auto settle = [&](ptl_permit p, uint64_t tokens) {
    const ptl_amount a{"tokens", tokens};
    EXPECT_EQ(ptl_settle(lim, p, &a, 1), PTL_OK) << ptl_last_error();
  };
  const ptl_permit before = take(300);
  // A clock that reads the same twice would make "before" and the observation
  // simultaneous: 1 ns apart on simulated time, 2 ms on real time (Redis reads in µs).
  const int64_t apart = simulated() ? 1 : 2 * kMs;
  advance(apart);
  ASSERT_EQ(ptl_observe(lim, "tokens", 1000, 30 * kSec), PTL_OK) << ptl_last_error();
  advance(apart);
  const ptl_permit after = take(600);
  EXPECT_EQ(cap(), 400u);
  settle(after, 100);
  EXPECT_EQ(cap(), 900u) << "the 500 tokens the call did not use were not given back";
  settle(before, 50);
  EXPECT_EQ(cap(), 900u) << "a grant older than the observation was refunded";
  const ptl_permit more = take(100);
  settle(more, 300);
  EXPECT_EQ(cap(), 600u) << "an excess over the estimate was not charged";
  for (ptl_permit p : {before, after, more}) ASSERT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Observe, OpenAIHeadersCapRequestsAndTokens) {
  Lim lim = make_policy({{"requests", 500, 60 * kSec}, {"tokens", 30000, 60 * kSec}});
  // As the API sends them, plus one the limiter does not keep and one malformed value.
  const char* names[] = {"x-ratelimit-limit-requests",
                         "X-RateLimit-Remaining-Requests",
                         "x-ratelimit-reset-requests",
                         "x-ratelimit-remaining-tokens",
                         "x-ratelimit-reset-tokens",
                         "x-ratelimit-remaining-input-tokens",
                         "content-type"};
  const char* values[] = {"500", "3", "12s", "not-a-number", "6m0s", "10", "application/json"};
  EXPECT_EQ(ptl_observe_headers(lim, 7, names, values), 1) << ptl_last_error();
  EXPECT_EQ(usage_of(lim, "requests", 60 * kSec).observed_cap, 3u);
  EXPECT_EQ(usage_of(lim, "tokens", 60 * kSec).observed_cap, UINT64_MAX);
  const char* good[] = {"29000", "6m0s"};
  EXPECT_EQ(ptl_observe_headers(lim, 2, names + 3, good), 1);
  EXPECT_EQ(usage_of(lim, "tokens", 60 * kSec).observed_cap, 29000u);
}

TEST_P(Observe, RetryAfterPausesEverySharer) {
  Lim lim = make_policy({{"requests", 100, 60 * kSec}}, "paused");
  Lim other = get(peer(), "paused");
  const char* names[] = {"retry-after"};
  const char* values[] = {"30"};
  EXPECT_EQ(ptl_observe_headers(lim, 1, names, values), 1) << ptl_last_error();
  ptl_permit p = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(other, &p, &retry), PTL_EAGAIN);
  EXPECT_GT(retry, 20 * kSec);
  EXPECT_EQ(ptl_observe_headers(lim, 1, nullptr, values), PTL_EINVAL);
}

TEST_P(Observe, UsageTellsWhenTheNextUnitFits) {
  Lim lim = make_policy({{"tokens", 100, 30 * kSec}, {"requests", 1, 0}});
  ptl_usage u = usage_of(lim, "tokens", 30 * kSec);
  EXPECT_EQ(u.max, 100u);
  EXPECT_EQ(u.window_ns, 30 * kSec);
  EXPECT_EQ(u.used, 0u);
  EXPECT_EQ(u.next_room_ns, 0);
  ptl_permit p = 0;
  const ptl_amount a{"tokens", 100};
  ASSERT_EQ(ptl_acquire_amounts(lim, &a, 1, 0, &p), PTL_OK);
  u = usage_of(lim, "tokens", 30 * kSec);
  EXPECT_EQ(u.used, 100u);
  EXPECT_GT(u.next_room_ns, 29 * kSec);
  EXPECT_LE(u.next_room_ns, 30 * kSec + 1);
  EXPECT_EQ(usage_of(lim, "requests", 0).next_room_ns, -1) << "only a release makes room";
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ptl_usage none{};
  none.struct_size = sizeof none;
  EXPECT_EQ(ptl_limiter_usage(lim, "tokens", 60 * kSec, &none), PTL_ENOTFOUND);
  none.struct_size = 0;
  EXPECT_EQ(ptl_limiter_usage(lim, "tokens", 30 * kSec, &none), PTL_EINVAL);
}

}  // namespace
}  // namespace ptl_test
