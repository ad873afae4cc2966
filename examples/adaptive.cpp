// SPDX-License-Identifier: MIT
// Plays --adaptive: a mock API with a hidden concurrency limit, and one adaptive batch that
// learns it from 429s through the C ABI (ptl_batch_run).
#include "adaptive.hpp"

#include <pocketflow_throttled/ptl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>

#include "demo_util.hpp"
#include "scenario.hpp"

namespace demo {

int64_t AdaptiveParams::scaled_ns(double ms) const {
  return std::llround(ms * 1e6 / time_scale);
}

namespace {

// The upstream API: accepts a call while fewer than `hidden` are in flight, else answers
// 429 at once. A rejected call never occupies the API.
class MockApi {
 public:
  explicit MockApi(uint32_t hidden) : hidden_(hidden) {}
  bool enter() {
    if (in_flight_.fetch_add(1) < hidden_) return true;
    in_flight_.fetch_sub(1);
    return false;
  }
  void leave() { in_flight_.fetch_sub(1); }

 private:
  const uint32_t hidden_;
  std::atomic<uint32_t> in_flight_{0};
};

// What the item function reaches through `user`.
struct Context {
  const AdaptiveParams* p = nullptr;
  const std::vector<int64_t>* calls = nullptr;  // each item's call duration, scaled
  MockApi* api = nullptr;
  int64_t t0 = 0;
  std::mutex mu;  // guards the records below
  std::vector<Attempt> attempts;
  std::vector<LimitSample> limit;
  std::string error;

  // Reads the batch's adaptive limit and keeps it if it changed. Under mu, so samples are
  // kept in time order.
  void sample(ptl_batch* batch) {
    ptl_batch_report rep{};
    rep.struct_size = sizeof rep;
    std::lock_guard lock(mu);
    const int st = ptl_batch_report_get(batch, &rep, nullptr, 0);
    if (st != PTL_OK) {
      if (error.empty()) error = describe("ptl_batch_report_get", st);
      return;
    }
    const int64_t t = now_ns() - t0;
    if (limit.empty() || limit.back().concurrency != rep.concurrency)
      limit.push_back({t, rep.concurrency});
  }
};

// One attempt: the mock call, or a quick 429 with a Retry-After.
int call_api(void* user, ptl_batch* batch, size_t index, uint32_t attempt,
             int64_t* retry_after_ns) {
  auto& cx = *static_cast<Context*>(user);
  const int64_t start = now_ns();
  cx.sample(batch);
  const bool accepted = cx.api->enter();
  sleep_until_ns(start +
                 (accepted ? (*cx.calls)[index] : cx.p->scaled_ns(cx.p->nominal_reject_ms)));
  if (accepted) cx.api->leave();
  const int64_t end = now_ns();
  cx.sample(batch);  // before this attempt's own outcome adapts the limit
  {
    std::lock_guard lock(cx.mu);
    cx.attempts.push_back(
        {static_cast<uint32_t>(index), attempt, start - cx.t0, end - cx.t0, !accepted});
  }
  if (accepted) return PTL_OK;
  *retry_after_ns = cx.p->scaled_ns(cx.p->nominal_retry_after_ms);
  return PTL_ERATELIMITED;
}

}  // namespace

AdaptiveRun run_adaptive(const AdaptiveParams& p) {
  AdaptiveRun res;
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = p.max_concurrent;
  cfg.max_per_window = 0;  // this story is about concurrency only
  if (const int st = register_limiter(kLimiterName, cfg, &res.registry_note); st != PTL_OK) {
    res.error = describe("ptl_registry_register", st);
    return res;
  }
  LimiterRef openai;
  if (const int st = ptl_registry_get(nullptr, kLimiterName, openai.out()); st != PTL_OK) {
    res.error = describe("ptl_registry_get", st);
    return res;
  }

  ptl_adaptive_config adaptive;
  ptl_adaptive_config_init(&adaptive);
  adaptive.initial_concurrent = p.initial_concurrent;
  adaptive.min_concurrent = p.min_concurrent;
  adaptive.max_concurrent = p.max_adaptive;
  adaptive.recovery_threshold = p.recovery_threshold;
  adaptive.backoff_factor = p.backoff_factor;
  adaptive.recovery_factor = p.recovery_factor;

  ptl_batch_options opts;
  ptl_batch_options_init(&opts);
  opts.adaptive = &adaptive;
  opts.shared = openai.get();  // every attempt also holds a permit of "openai"
  opts.max_attempts = p.max_attempts;

  const std::vector<int64_t> calls =
      draw_durations(p.seed, p.items, p.nominal_call_min_ms, p.nominal_call_max_ms, p.time_scale);
  MockApi api(p.hidden_limit);
  Context cx;
  cx.p = &p;
  cx.calls = &calls;
  cx.api = &api;
  cx.attempts.reserve(size_t{p.items} * 2);
  res.statuses.assign(p.items, PTL_EAGAIN);
  ptl_batch_report rep{};
  rep.struct_size = sizeof rep;

  cx.t0 = now_ns();
  res.status = ptl_batch_run(&opts, p.items, call_api, &cx, res.statuses.data(), &rep);
  res.end_ns = now_ns() - cx.t0;
  if (res.status != PTL_OK && res.status != PTL_EITEMS) {
    res.error = describe("ptl_batch_run", res.status);
    return res;
  }
  res.error = cx.error;

  res.attempts = std::move(cx.attempts);
  std::sort(res.attempts.begin(), res.attempts.end(),
            [](const Attempt& x, const Attempt& y) { return x.start_ns < y.start_ns; });
  res.limit = std::move(cx.limit);
  res.lib_concurrency = rep.concurrency;
  res.lib_peak_in_flight = rep.peak_in_flight;
  res.lib_attempts = rep.attempts;
  res.lib_retries = rep.retries;
  res.lib_rate_limited = rep.rate_limited;
  res.lib_backoffs = rep.backoffs;
  res.lib_recoveries = rep.recoveries;
  res.lib_succeeded = rep.succeeded;
  // The limit at the end, as the library states it, closes the step line.
  if (res.limit.empty() || res.limit.back().concurrency != rep.concurrency)
    res.limit.push_back({res.end_ns, rep.concurrency});
  return res;
}

}  // namespace demo
