// SPDX-License-Identifier: MIT
// ptl_flow_rules.hpp - what every throttled executor shares, whether its items run on library
// threads (ptl_flow_throttled*.hpp) or as Boost.Asio coroutines (ptl_flow_asio_throttled.hpp):
// the settings and the batch options they make, the statistics, and what a run's failures
// become. One copy of each rule, so the two families cannot drift apart. Included by those
// headers; see docs/adr/0016-one-copy-of-each-flow-rule.md.
#pragma once

#include <pocketflow_throttled/ptl_flow_batch.hpp>
#include <pocketflow_throttled/ptl_flow_graph.hpp>
#include <pocketflow_throttled/ptl_flow_nodes.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ptl {

namespace detail {

// What a throttled executor (node or flow) keeps across runs and shares with its copies:
// its totals and, when adaptive, the level the last run ended at.
class ExecutorState {
 public:
  struct Totals {
    std::uint64_t runs = 0, items = 0, succeeded = 0, failed = 0;
    std::uint64_t rate_limited = 0, retries = 0, backoffs = 0, recoveries = 0;
    BatchStats last_run;
  };

  // The level an adaptive run is at (as of its latest attempt), or ended at.
  std::atomic<std::uint32_t> live{0};

  void record(const BatchStats& r, bool adaptive) {
    const std::lock_guard lock(mu_);
    ++t_.runs;
    t_.items += r.items;
    t_.succeeded += r.succeeded;
    t_.failed += r.failed + r.cancelled;
    t_.rate_limited += r.rate_limited;
    t_.retries += r.retries;
    t_.backoffs += r.backoffs;
    t_.recoveries += r.recoveries;
    t_.last_run = r;
    if (adaptive) {
      learned_ = r.concurrency;
      live.store(r.concurrency, std::memory_order_relaxed);
    }
  }
  Totals stats() const {
    const std::lock_guard lock(mu_);
    return t_;
  }
  // The controller settings of the next adaptive run: `wanted`, but starting where the last
  // run ended (kept within [min, max]: the settings may have changed since), else at
  // wanted.initial_concurrent. The library starts the batch's own limit at that level.
  AdaptiveConfig resume(AdaptiveConfig wanted) const {
    const std::lock_guard lock(mu_);
    const std::uint32_t lo = wanted.min_concurrent;
    wanted.initial_concurrent = std::clamp(learned_.value_or(wanted.initial_concurrent), lo,
                                           std::max(lo, wanted.max_concurrent));
    return wanted;
  }
  // The level now: during a run as of its latest attempt, else where the next run starts.
  std::uint32_t level(const AdaptiveConfig& wanted) const {
    const std::uint32_t now = live.load(std::memory_order_relaxed);
    return now != 0 ? now : resume(wanted).initial_concurrent;
  }
  void reset() {
    const std::lock_guard lock(mu_);
    t_ = {};
    learned_.reset();
    live.store(0, std::memory_order_relaxed);
  }

 private:
  mutable std::mutex mu_;
  Totals t_;
  std::optional<std::uint32_t> learned_;
};

// The original's is_rate_limit_error: the message mentions a rate limit, case-insensitively.
inline bool mentions_rate_limit(std::string_view what) {
  std::string s(what);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::array<std::string_view, 6> kMarks = {
      "429", "rate limit", "rate_limit", "too many requests", "quota exceeded", "throttl"};
  return std::any_of(kMarks.begin(), kMarks.end(),
                     [&](std::string_view m) { return s.find(m) != std::string::npos; });
}

// The results in input order; an item that failed (collect policy) gives Result{}.
template <class Result>
std::vector<Result> take_results(std::vector<std::optional<Result>>& slots) {
  std::vector<Result> out;
  out.reserve(slots.size());
  for (std::optional<Result>& s : slots) {
    if (s) {
      out.push_back(std::move(*s));
    } else if constexpr (std::is_default_constructible_v<Result>) {
      out.emplace_back();
    } else {
      throw Error(PTL_EINVAL, "an item failed and Result has no default to stand for it");
    }
  }
  return out;
}

inline void expect_kind(const Preset& p, bool ok, const char* what) {
  if (!ok)
    throw Error(PTL_EINVAL, "preset '" + std::string(p.name) + "' does not configure " + what);
}

inline bool configures_flows(const Preset& p) {
  return p.kind == PresetKind::flow || p.kind == PresetKind::adaptive_flow;
}

}  // namespace detail

// One item that failed for good in a run under FailurePolicy::collect.
struct ItemFailure {
  std::size_t index = 0;
  int status = 0;            // the last attempt's: PTL_ERATELIMITED, kStatusExecFailed, ...
  std::exception_ptr error;  // what exec (or exec_fallback) threw; null if it never ran
};

// A throttled node's statistics, over every run of the node and of the copies flows made.
struct NodeStats {
  std::uint32_t max_concurrent = 0;
  union {  // one value, two names: see ThrottledNodeSettings
    std::uint64_t max_per_window = 0;
    [[deprecated("use max_per_window")]] std::uint64_t max_per_minute;
  };
  std::uint64_t runs = 0, total_items = 0, total_successes = 0, total_failures = 0;
  std::uint64_t total_rate_limits = 0;  // rate-limit signals (429s) seen
  std::uint64_t total_retries = 0;
  BatchStats last_run;  // the most recent run's figures
};

// The adaptive node's statistics: NodeStats plus its level and changes.
struct AdaptiveNodeStats : NodeStats {
  std::uint32_t current_concurrent = 0;
  std::uint64_t total_backoffs = 0, total_recoveries = 0;
};

// How one flow instance ended: its last action, or what it threw.
struct FlowOutcome {
  std::string action;
  std::exception_ptr error;
  bool ok() const noexcept { return error == nullptr; }
};

// A throttled flow's statistics; completed and failed count the latest run, as the original.
struct FlowStats {
  std::uint32_t max_concurrent_flows = 0;
  union {  // one value, two names: see ThrottledFlowSettings
    std::uint64_t max_flows_per_window = 0;
    [[deprecated("use max_flows_per_window")]] std::uint64_t max_flows_per_minute;
  };
  std::uint64_t completed_flows = 0, failed_flows = 0;
  BatchStats last_run;
};

// The adaptive flow's statistics.
struct AdaptiveFlowStats : FlowStats {
  std::uint32_t current_concurrent_flows = 0;
  std::uint64_t total_rate_limits = 0;  // over every run
  std::uint64_t total_backoffs = 0, total_recoveries = 0;
};

// The settings and statistics of a throttled parallel batch node, whichever way its items
// run: a limit of its own (max_concurrent calls at once, at most max_per_window started per
// window_seconds), optionally a shared limiter too (each call holds one permit of each), and
// what to do about failures. Default failure policy: fail fast, like asyncio.gather.
class ThrottledNodeSettings {
 public:
  std::uint32_t max_concurrent = 5;
  // The original called it max_per_minute although it counts over window_seconds; the old
  // name still reads and writes the same value (both members of the union alias one
  // uint64_t, a layout GCC and Clang define).
  union {
    std::uint64_t max_per_window = 0;  // 0 = no throughput limit
    [[deprecated("use max_per_window")]] std::uint64_t max_per_minute;
  };
  double window_seconds = 60.0;      // what max_per_window counts over
  int max_retries = 1;               // attempts per item in all, >= 1
  std::chrono::nanoseconds wait{0};  // between an item's attempts; nothing is held meanwhile
  Limiter shared_limiter;            // empty, or e.g. ptl::registry().get("openai")
  FailurePolicy failure_policy = FailurePolicy::fail_fast;

  virtual ~ThrottledNodeSettings() = default;

  // Limits from a node preset: ptl::presets::get("openai_tier1").
  virtual void apply(const Preset& preset) {
    detail::expect_kind(preset, preset.kind == PresetKind::node, "a node");
    apply(preset.config);
  }
  void apply(const LimiterConfig& limits) {
    max_concurrent = limits.max_concurrent;
    max_per_window = limits.max_per_window;
    window_seconds = limits.window_seconds;
  }

  NodeStats stats() const {
    const detail::ExecutorState::Totals t = state_->stats();
    NodeStats s;
    s.max_concurrent = max_concurrent;
    s.max_per_window = max_per_window;
    s.runs = t.runs;
    s.total_items = t.items;
    s.total_successes = t.succeeded;
    s.total_failures = t.failed;
    s.total_rate_limits = t.rate_limited;
    s.total_retries = t.retries;
    s.last_run = t.last_run;
    return s;
  }

 protected:
  ThrottledNodeSettings() = default;
  ThrottledNodeSettings(const ThrottledNodeSettings&) = default;
  ThrottledNodeSettings& operator=(const ThrottledNodeSettings&) = default;

  // The batch a run of this node is; an adaptive node adds its controller.
  virtual BatchOptions batch_options() const {
    if (max_retries < 1) throw Error(PTL_EINVAL, "max_retries must be >= 1");
    BatchOptions o;
    o.failure_policy = failure_policy;
    o.limits = {.max_concurrent = max_concurrent,
                .max_per_window = max_per_window,
                .window_seconds = window_seconds};
    o.shared = shared_limiter;
    o.max_attempts = static_cast<std::uint32_t>(max_retries);
    o.retry_wait = wait;
    return o;
  }

  // Ends a run: records its figures; then, under fail-fast, throws the failure of the
  // lowest index that ran (or PTL_ECANCELED if none did), else keeps the failed items for
  // failures(). `errors` holds what each item threw, null where it did not.
  void finish_run(const BatchStats& stats, bool adaptive, const std::vector<int>& statuses,
                  const std::vector<std::exception_ptr>& errors) {
    state_->record(stats, adaptive);
    failures_.clear();
    for (std::size_t i = 0; i < statuses.size(); ++i) {
      if (statuses[i] == PTL_OK) continue;
      if (failure_policy == FailurePolicy::fail_fast) {
        for (const std::exception_ptr& e : errors)
          if (e) std::rethrow_exception(e);
        throw Error(PTL_ECANCELED, "the batch was cancelled before its items ran");
      }
      failures_.push_back({i, statuses[i], errors[i]});
    }
  }

  // The items that failed in the latest run (FailurePolicy::collect), in index order, for
  // post; their results are Result{}.
  const std::vector<ItemFailure>& failures() const noexcept { return failures_; }
  detail::ExecutorState& state() const noexcept { return *state_; }

 private:
  // Shared with copies: a flow runs copies, and the node the user holds reports for them.
  std::shared_ptr<detail::ExecutorState> state_ = std::make_shared<detail::ExecutorState>();
  std::vector<ItemFailure> failures_;  // this object's latest run
};

// The settings and statistics of a throttled parallel batch flow, whichever way its instances
// run: at most max_concurrent_flows instances at once, at most max_flows_per_window started
// per window_seconds. Failures are collected: one never cancels the other instances.
class ThrottledFlowSettings {
 public:
  std::uint32_t max_concurrent_flows = 5;
  union {  // one value, two names, as ThrottledNodeSettings::max_per_window
    std::uint64_t max_flows_per_window = 0;  // 0 = no throughput limit
    [[deprecated("use max_flows_per_window")]] std::uint64_t max_flows_per_minute;
  };
  double window_seconds = 60.0;  // what max_flows_per_window counts over

  virtual ~ThrottledFlowSettings() = default;

  // Limits from a flow preset: ptl::presets::get("flow_moderate").
  virtual void apply(const Preset& preset) {
    detail::expect_kind(preset, detail::configures_flows(preset), "flow instances");
    apply(preset.config);
  }
  void apply(const LimiterConfig& limits) {
    max_concurrent_flows = limits.max_concurrent;
    max_flows_per_window = limits.max_per_window;
    window_seconds = limits.window_seconds;
  }

  FlowStats stats() const {
    const detail::ExecutorState::Totals t = state_->stats();
    FlowStats s;
    s.max_concurrent_flows = max_concurrent_flows;
    s.max_flows_per_window = max_flows_per_window;
    s.completed_flows = t.last_run.succeeded;
    s.failed_flows = t.last_run.failed + t.last_run.cancelled;
    s.last_run = t.last_run;
    return s;
  }

 protected:
  ThrottledFlowSettings() = default;
  ThrottledFlowSettings(const ThrottledFlowSettings&) = default;
  ThrottledFlowSettings& operator=(const ThrottledFlowSettings&) = default;

  // The batch a run of this flow is; an adaptive flow adds its controller.
  virtual BatchOptions batch_options() const {
    BatchOptions o;
    o.failure_policy = FailurePolicy::collect;
    o.limits = {.max_concurrent = max_concurrent_flows,
                .max_per_window = max_flows_per_window,
                .window_seconds = window_seconds};
    return o;
  }

  // Ends a run: records its figures and gives every instance that did not succeed an error:
  // what it threw (already in its outcome), else why it never ran.
  void finish_run(const BatchStats& stats, bool adaptive, const std::vector<int>& statuses,
                  std::vector<FlowOutcome>& outcomes) {
    state_->record(stats, adaptive);
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (statuses[i] != PTL_OK && !outcomes[i].error)
        outcomes[i].error =
            std::make_exception_ptr(Error(statuses[i], "the flow instance did not run"));
    }
  }

  detail::ExecutorState& state() const noexcept { return *state_; }

 private:
  std::shared_ptr<detail::ExecutorState> state_ = std::make_shared<detail::ExecutorState>();
};

namespace detail {

// The constructors every throttled flow offers, over the graph walk of its family: FlowBase
// (instances on threads) or AsyncFlowBase (instances as coroutines).
template <class Graph>
class ThrottledFlowOf : public Graph, public ThrottledFlowSettings {
 public:
  ThrottledFlowOf() = default;
  template <std::derived_from<BaseNode> T>
  explicit ThrottledFlowOf(std::shared_ptr<T> start_node) : Graph(std::move(start_node)) {}
  // Limits from a flow preset: ptl::presets::get("flow_moderate").
  template <std::derived_from<BaseNode> T>
  ThrottledFlowOf(std::shared_ptr<T> start_node, const Preset& preset)
      : Graph(std::move(start_node)) {
    ThrottledFlowSettings::apply(preset);
  }
};

}  // namespace detail

// How an adaptive executor (node or flow) reacts, whatever it adapts: the factors and the
// threshold of AdaptiveConfig, with the original's defaults.
class AdaptiveTuning {
 public:
  double backoff_factor = 0.5;            // on a rate-limit signal, in (0, 1)
  std::uint32_t recovery_threshold = 10;  // consecutive successes before growing
  double recovery_factor = 1.2;           // on recovery, >= 1 (growth is at least +1)

 protected:
  // The controller of a level kept within [lo, hi] that starts at `initial`.
  AdaptiveConfig controller(std::uint32_t initial, std::uint32_t lo, std::uint32_t hi) const {
    return {.initial_concurrent = initial,
            .min_concurrent = lo,
            .max_concurrent = hi,
            .recovery_threshold = recovery_threshold,
            .backoff_factor = backoff_factor,
            .recovery_factor = recovery_factor};
  }
};

}  // namespace ptl
