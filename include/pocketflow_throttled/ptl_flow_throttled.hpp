// ptl_flow_throttled.hpp - the original's ThrottledParallelBatchNode and
// AdaptiveThrottledNode over ptl_batch_run. Included by ptl_flow.hpp.
//
//   class Translate : public ptl::ThrottledParallelBatchNode<std::string, std::string> {
//    public:
//     using ThrottledParallelBatchNode::ThrottledParallelBatchNode;  // the preset constructor
//    protected:
//     std::vector<std::string> prep(ptl::Shared& s) override { return s.get<...>("texts"); }
//     std::string exec(const std::string& text) const override { return translate(text); }
//   };
//   auto node = std::make_shared<Translate>(ptl::presets::get("openai_tier1"));
//
// exec runs on library worker threads, several items at once, so it is const: state it
// changes must be synchronized by the user (atomics, ptl::Shared, a mutex).
#pragma once

#include <pocketflow_throttled/ptl_flow_batch.hpp>
#include <pocketflow_throttled/ptl_flow_graph.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
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
    BatchReport last_run;
  };

  // The level an adaptive run is at (as of its latest attempt), or ended at.
  std::atomic<std::uint32_t> live{0};

  void record(const BatchReport& r, bool adaptive) {
    const std::lock_guard lock(mu_);
    ++t_.runs;
    t_.items += r.items;
    t_.succeeded += r.succeeded;
    t_.failed += r.failed + r.canceled;
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
  Totals totals() const {
    const std::lock_guard lock(mu_);
    return t_;
  }
  // Where the next adaptive run starts: the last run's final level, else `initial`.
  std::uint32_t start_level(std::uint32_t initial, std::uint32_t lo, std::uint32_t hi) const {
    const std::lock_guard lock(mu_);
    return std::clamp(learned_.value_or(initial), lo, std::max(lo, hi));
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
  std::uint64_t max_per_minute = 0;
  std::uint64_t runs = 0, total_items = 0, total_successes = 0, total_failures = 0;
  std::uint64_t total_rate_limits = 0;  // rate-limit signals (429s) seen
  std::uint64_t total_retries = 0;
  BatchReport last_run;  // the most recent run's figures
};

// A parallel batch node under a limit of its own (max_concurrent calls at once, at most
// max_per_minute per window_seconds) and optionally a shared limiter too: each call holds one
// permit of each. Results come in input order. Default failure policy: fail fast, like
// asyncio.gather: items not started are cancelled and, once the running ones end, the node
// throws the failure of the lowest index.
template <class Item, class Result>
class ThrottledParallelBatchNode : public BaseNode {
 public:
  std::uint32_t max_concurrent = 5;
  std::uint64_t max_per_minute = 0;  // 0 = no throughput limit
  double window_seconds = 60.0;      // what max_per_minute counts over
  int max_retries = 1;               // attempts per item in all, >= 1
  std::chrono::nanoseconds wait{0};  // between an item's attempts; nothing is held meanwhile
  Limiter shared_limiter;            // empty, or e.g. ptl::registry().get("openai")
  FailurePolicy failure_policy = FailurePolicy::fail_fast;

  ThrottledParallelBatchNode() = default;
  // Limits from a node preset: ptl::presets::get("openai_tier1").
  explicit ThrottledParallelBatchNode(const Preset& preset) {
    ThrottledParallelBatchNode::apply(preset);
  }

  virtual void apply(const Preset& preset) {
    detail::expect_kind(preset, preset.kind == PresetKind::node, "a node");
    apply(preset.config);
  }
  void apply(const LimiterConfig& limits) {
    max_concurrent = limits.max_concurrent;
    max_per_minute = limits.max_per_window;
    window_seconds = limits.window_seconds;
  }

  NodeStats stats() const {
    const detail::ExecutorState::Totals t = state_->totals();
    return {max_concurrent, max_per_minute, t.runs,    t.items,   t.succeeded,
            t.failed,       t.rate_limited, t.retries, t.last_run};
  }

 protected:
  virtual std::vector<Item> prep(Shared& /*shared*/) { return {}; }
  // One call; runs on a worker thread, concurrently with other items.
  virtual Result exec(const Item& item) const = 0;
  // After an item's last failed attempt; its result stands for exec's. Default: rethrow.
  virtual Result exec_fallback(const Item& /*item*/, std::exception_ptr error) const {
    std::rethrow_exception(error);
  }
  virtual std::string post(Shared& /*shared*/, std::vector<Item>& /*items*/,
                           std::vector<Result>& /*results*/) {
    return "default";
  }
  // Whether an exception other than ptl::RateLimitHit means "429" (backs off the adaptive
  // node, penalizes nothing). Default: its message mentions a rate limit.
  virtual bool is_rate_limit_error(const std::exception& error) const {
    return detail::mentions_rate_limit(error.what());
  }
  // The items that failed in this run (FailurePolicy::collect), in index order, for post;
  // their results are Result{}.
  const std::vector<ItemFailure>& failures() const noexcept { return failures_; }

  // The batch this node runs; the adaptive node adds its controller.
  virtual BatchOptions batch_options() const {
    if (max_retries < 1) throw Error(PTL_EINVAL, "max_retries must be >= 1");
    BatchOptions o;
    o.failure_policy = failure_policy;
    o.limits = {.max_concurrent = max_concurrent,
                .max_per_window = max_per_minute,
                .window_seconds = window_seconds};
    o.shared = shared_limiter;
    o.max_attempts = static_cast<std::uint32_t>(max_retries);
    o.retry_wait = wait;
    return o;
  }
  detail::ExecutorState& state() const noexcept { return *state_; }

  std::string run_once(Shared& shared) override {
    std::vector<Item> items = prep(shared);
    std::vector<std::optional<Result>> slots(items.size());
    Work work(*this, items, slots);
    const BatchOptions o = batch_options();
    detail::NativeOptions native(o);
    detail::BlockingBatch batch(work, items.size(), o.adaptive ? &state_->live : nullptr);
    detail::BatchOutcome out = batch.run(native.get());
    state_->record(out.report, o.adaptive.has_value());

    failures_.clear();
    if (out.rc == PTL_EITEMS) {
      if (failure_policy == FailurePolicy::fail_fast) {
        if (std::exception_ptr first = out.first_error()) std::rethrow_exception(first);
        throw Error(PTL_ECANCELED, "the batch was cancelled before its items ran");
      }
      for (std::size_t i = 0; i < items.size(); ++i)
        if (out.statuses[i] != PTL_OK) failures_.push_back({i, out.statuses[i], out.errors[i]});
    }
    std::vector<Result> results = detail::take_results(slots);
    return post(shared, items, results);
  }

 private:
  // The node's per-item work, seen by the batch runner.
  class Work final : public detail::BatchWork {
   public:
    Work(const ThrottledParallelBatchNode& node, const std::vector<Item>& items,
         std::vector<std::optional<Result>>& slots)
        : node_(node), items_(items), slots_(slots) {}
    void attempt(ptl_batch* /*batch*/, std::size_t i) override {
      slots_[i] = node_.exec(items_[i]);
    }
    bool is_rate_limit_error(const std::exception& e) const override {
      return node_.is_rate_limit_error(e);
    }
    bool has_fallback() const override { return true; }
    void fallback(std::size_t i, std::exception_ptr last) override {
      slots_[i] = node_.exec_fallback(items_[i], std::move(last));
    }

   private:
    const ThrottledParallelBatchNode& node_;
    const std::vector<Item>& items_;
    std::vector<std::optional<Result>>& slots_;
  };

  // Shared with copies: a flow runs copies, and the node the user holds reports for them.
  std::shared_ptr<detail::ExecutorState> state_ = std::make_shared<detail::ExecutorState>();
  std::vector<ItemFailure> failures_;  // this object's latest run
};

// The adaptive node's statistics: NodeStats plus its level and changes.
struct AdaptiveNodeStats : NodeStats {
  std::uint32_t current_concurrent = 0;
  std::uint64_t total_backoffs = 0, total_recoveries = 0;
};

// A throttled node whose concurrency adapts: a rate-limit signal (ptl::RateLimitHit, or an
// exception is_rate_limit_error accepts) shrinks it by backoff_factor, recovery_threshold
// consecutive successes grow it by recovery_factor, always within [min_concurrent,
// max_concurrent]. A run starts where the previous one ended (copies share what was learned).
// Inside a throttled batch flow instance, with propagate_rate_limit, its signals also reach
// the flow, so an adaptive flow backs off too.
template <class Item, class Result>
class AdaptiveThrottledNode : public ThrottledParallelBatchNode<Item, Result> {
  using Base = ThrottledParallelBatchNode<Item, Result>;

 public:
  std::uint32_t initial_concurrent = 5;
  std::uint32_t min_concurrent = 1;
  double backoff_factor = 0.5;
  std::uint32_t recovery_threshold = 10;
  double recovery_factor = 1.2;
  bool propagate_rate_limit = true;

  // max_concurrent (inherited) is the ceiling here, 20 by default as in the original.
  AdaptiveThrottledNode() { this->max_concurrent = 20; }
  // Starts at a node preset's concurrency (raising the ceiling to it if needed).
  explicit AdaptiveThrottledNode(const Preset& preset) : AdaptiveThrottledNode() {
    AdaptiveThrottledNode::apply(preset);
  }

  using Base::apply;
  void apply(const Preset& preset) override {
    detail::expect_kind(preset, preset.kind == PresetKind::node, "a node");
    const std::uint32_t ceiling = this->max_concurrent;
    Base::apply(preset.config);
    initial_concurrent = preset.config.max_concurrent;
    this->max_concurrent = std::max(ceiling, initial_concurrent);
  }

  // The level now: during a run as of its latest call, else where the last run ended (or
  // initial_concurrent before any run).
  std::uint32_t current_concurrent() const {
    const std::uint32_t live = this->state().live.load(std::memory_order_relaxed);
    return live != 0 ? live
                     : this->state().start_level(initial_concurrent, min_concurrent,
                                                 this->max_concurrent);
  }

  AdaptiveNodeStats stats() const {
    AdaptiveNodeStats s;
    static_cast<NodeStats&>(s) = Base::stats();
    const detail::ExecutorState::Totals t = this->state().totals();
    s.current_concurrent = current_concurrent();
    s.total_backoffs = t.backoffs;
    s.total_recoveries = t.recoveries;
    return s;
  }

  // Forgets what was learned and the totals: the next run starts at initial_concurrent.
  void reset_adaptive_state() { this->state().reset(); }

 protected:
  BatchOptions batch_options() const override {
    BatchOptions o = Base::batch_options();
    const std::uint32_t ceiling = this->max_concurrent;
    o.adaptive = AdaptiveConfig{.initial_concurrent = this->state().start_level(
                                    initial_concurrent, min_concurrent, ceiling),
                                .min_concurrent = min_concurrent,
                                .max_concurrent = ceiling,
                                .recovery_threshold = recovery_threshold,
                                .backoff_factor = backoff_factor,
                                .recovery_factor = recovery_factor};
    o.limits.max_concurrent = o.adaptive->initial_concurrent;
    if (propagate_rate_limit) o.parent = this->context();
    return o;
  }
};

}  // namespace ptl
