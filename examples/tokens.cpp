// SPDX-License-Identifier: MIT
// Plays --scenario tokens through the C ABI: the policy is registered once in a private
// registry, each service takes its handle with ptl_registry_get_or_create_policy, and every
// call goes acquire (estimate) -> provider -> settle (usage) -> observe headers -> release.
#include "tokens.hpp"

#include <pocketflow_throttled/ptl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <latch>
#include <mutex>
#include <random>
#include <thread>

#include "demo_util.hpp"
#include "scenario.hpp"

namespace demo {

int64_t TokensParams::window_ns() const {
  return scaled_ns(nominal_window_s);
}
int64_t TokensParams::scaled_ns(double nominal_s) const {
  return std::llround(nominal_s * 1e9 / time_scale);
}

namespace {

// Uniform in [lo, hi], from mt19937_64's output, which the standard fixes (the
// distributions are not), so one seed gives one workload with any standard library.
uint32_t uniform(std::mt19937_64& rng, uint32_t lo, uint32_t hi) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return lo + static_cast<uint32_t>(u * (hi - lo + 1));
}

// What every thread of one run shares.
struct Shared {
  const TokensParams* p = nullptr;
  const std::vector<TokensItem>* items = nullptr;
  bool sync = false;
  MockProvider* provider = nullptr;
  int64_t t0 = 0;
  std::atomic<size_t> next[kServices] = {0, 0};  // the next item to take, per service
  std::vector<size_t> queue[kServices];          // item indexes, per service
  std::vector<int64_t> done_ns;                  // each written by its one worker
  std::atomic<size_t> remaining{0};
  std::atomic<uint64_t> services_429{0}, observations{0};
  std::mutex mu;
  std::string error;

  void fail(const char* call, int st) {
    std::lock_guard lock(mu);
    if (error.empty()) error = describe(call, st);
  }
  // The response's x-ratelimit-* headers, as an HTTP client hands them over.
  void observe(ptl_limiter* lim, const Headers& h) {
    std::vector<const char*> names, values;
    for (const auto& [n, v] : h) {
      if (n.rfind("x-ratelimit-", 0) != 0) continue;  // Retry-After is handled apart
      names.push_back(n.c_str());
      values.push_back(v.c_str());
    }
    const int n = ptl_observe_headers(lim, names.size(), names.data(), values.data());
    if (n < 0) return fail("ptl_observe_headers", n);
    observations += static_cast<uint64_t>(n);
  }
};

// One worker of service s: takes the service's items in turn until none are left.
void worker(Shared& sh, ptl_limiter* lim, int s) {
  for (size_t k; (k = sh.next[s]++) < sh.queue[s].size();) {
    const size_t idx = sh.queue[s][k];
    const TokensItem& it = (*sh.items)[idx];
    for (;;) {
      const ptl_amount want[] = {{"requests", 1}, {"tokens", it.estimate()}};
      ptl_permit permit = 0;
      if (const int st = ptl_acquire_amounts(lim, want, 2, -1, &permit); st != PTL_OK)
        return sh.fail("ptl_acquire_amounts", st);
      const MockProvider::Admission adm = sh.provider->admit(s, it.usage());
      if (adm.ok) {
        sleep_until_ns(adm.t_ns + it.call_ns);  // the completion streams back
        const Headers h = sh.provider->response_headers();
        const ptl_amount used = {"tokens", it.usage()};
        if (const int st = ptl_settle(lim, permit, &used, 1); st != PTL_OK)
          return sh.fail("ptl_settle", st);
        if (sh.sync) sh.observe(lim, h);
        if (const int st = ptl_release(lim, permit); st != PTL_OK)
          return sh.fail("ptl_release", st);
        sh.done_ns[idx] = now_ns() - sh.t0;
        break;
      }
      // 429: the provider counted nothing, so neither does the limiter; everyone sharing
      // the limiter waits the Retry-After (retry-after-ms, as OpenAI's clients read it).
      ++sh.services_429;
      const ptl_amount none[] = {{"requests", 0}, {"tokens", 0}};
      if (const int st = ptl_settle(lim, permit, none, 2); st != PTL_OK)
        return sh.fail("ptl_settle", st);
      if (sh.sync) sh.observe(lim, adm.headers);
      if (const int st = ptl_limiter_penalize(lim, adm.retry_after_ns); st != PTL_OK)
        return sh.fail("ptl_limiter_penalize", st);
      if (const int st = ptl_release(lim, permit); st != PTL_OK) return sh.fail("ptl_release", st);
    }
    --sh.remaining;
  }
}

}  // namespace

std::vector<TokensItem> draw_tokens_items(const TokensParams& p) {
  std::mt19937_64 rng(p.seed);
  std::vector<TokensItem> items(size_t{p.items_per_service} * kServices);
  const double lo = p.nominal_call_min_s * 1e3, hi = p.nominal_call_max_s * 1e3;
  for (size_t i = 0; i < items.size(); ++i) {
    TokensItem& it = items[i];
    it.service = static_cast<int>(i % kServices);  // interleaved: both start at once
    it.prompt = uniform(rng, p.prompt_min, p.prompt_max);
    it.max_tokens = p.max_completion;
    it.completion = uniform(rng, p.completion_min, p.max_completion);
    it.call_ns = p.scaled_ns((lo + (hi - lo) * uniform(rng, 0, 1000) / 1000.0) * 1e-3);
  }
  return items;
}

TokensRun run_tokens(const TokensParams& p, const std::vector<TokensItem>& items, bool sync) {
  TokensRun res;
  res.sync = sync;
  ptl_registry* reg = nullptr;
  if (const int st = ptl_registry_open("local:", &reg); st != PTL_OK) {
    res.error = describe("ptl_registry_open", st);
    return res;
  }
  const ptl_limit limits[] = {{"requests", p.max_requests, p.window_ns()},
                              {"tokens", p.max_tokens, p.window_ns()}};
  ptl_policy policy;
  ptl_policy_init(&policy);
  policy.n_limits = 2;
  policy.limits = limits;
  LimiterRef lims[kServices];  // one handle per service, as two services would hold
  int st = ptl_registry_register_policy(reg, kLimiterName, &policy, 0);
  for (int s = 0; s < kServices && st == PTL_OK; ++s)
    st = ptl_registry_get_or_create_policy(reg, kLimiterName, &policy, lims[s].out());
  if (st != PTL_OK) {
    res.error = describe("ptl_registry_register_policy", st);
    ptl_registry_close(reg);
    return res;
  }

  MockProvider provider(p.max_requests, p.max_tokens, p.window_ns());
  Shared sh;
  sh.p = &p;
  sh.items = &items;
  sh.sync = sync;
  sh.provider = &provider;
  sh.done_ns.assign(items.size(), -1);
  for (size_t i = 0; i < items.size(); ++i) sh.queue[items[i].service].push_back(i);
  sh.remaining = items.size();

  // The third consumer: same key, its own schedule, never asks the library. Its calls and
  // sizes come from a seed of their own, so both runs meet the same one.
  std::mt19937_64 hidden_rng(p.seed ^ 0x5eed);
  std::atomic<uint64_t> hidden_429{0}, hidden_calls{0};
  const int64_t every = p.scaled_ns(p.nominal_hidden_every_s);

  std::latch ready(kServices * p.workers_per_service + 2);
  std::vector<std::thread> threads;
  for (int s = 0; s < kServices; ++s)
    for (uint32_t w = 0; w < p.workers_per_service; ++w)
      threads.emplace_back([&, s] {
        ready.arrive_and_wait();
        sleep_until_ns(sh.t0);
        worker(sh, lims[s].get(), s);
      });
  threads.emplace_back([&] {
    ready.arrive_and_wait();
    // A call per period; a 429 is retried after its retry-after-ms, as OpenAI's clients do.
    for (int64_t next = sh.t0 + every / 2; sh.remaining > 0; next += every) {
      sleep_until_ns(next);
      const uint32_t tokens = uniform(hidden_rng, p.hidden_min, p.hidden_max);
      while (sh.remaining > 0) {
        ++hidden_calls;
        const MockProvider::Admission adm = provider.admit(kHiddenSource, tokens);
        if (adm.ok) break;
        ++hidden_429;
        sleep_until_ns(adm.t_ns + adm.retry_after_ns);
      }
      next = std::max(next, now_ns() - every);  // a late call delays the next ones
    }
  });
  sh.t0 = now_ns() + 5'000'000;  // a moment ahead: every thread exists by then
  ready.arrive_and_wait();
  sleep_until_ns(sh.t0);
  for (auto& t : threads) t.join();
  ptl_registry_close(reg);

  res.error = sh.error;
  res.log = provider.log();
  for (auto& e : res.log) e.t_ns -= sh.t0;
  res.done_ns = std::move(sh.done_ns);
  for (const int64_t d : res.done_ns) res.end_ns = std::max(res.end_ns, d);
  res.services_429 = sh.services_429;
  res.hidden_429 = hidden_429;
  res.hidden_calls = hidden_calls;
  res.observations = sh.observations;
  return res;
}

}  // namespace demo
