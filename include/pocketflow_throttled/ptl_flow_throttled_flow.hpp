// ptl_flow_throttled_flow.hpp - the original's ThrottledAsyncParallelBatchFlow (here
// ThrottledParallelBatchFlow) and AdaptiveThrottledBatchFlow over ptl_batch_run. Included
// by ptl_flow.hpp.
//
//   class PerUser : public ptl::ThrottledParallelBatchFlow {
//    public:
//     using ThrottledParallelBatchFlow::ThrottledParallelBatchFlow;
//    protected:
//     std::vector<ptl::Params> prep(ptl::Shared& s) override {
//       std::vector<ptl::Params> sets;
//       for (int id : s.get<std::vector<int>>("users")) sets.push_back({{"user_id", id}});
//       return sets;
//     }
//   };
//   PerUser flow(std::make_shared<FetchUser>());   // 5 users at once by default
//
// Each instance runs the whole graph, on a library worker thread, with {flow params, then
// its own set}; its nodes are copies of their own. One instance's failure never cancels the
// others: post() receives every instance's outcome, in order.
#pragma once

#include <pocketflow_throttled/ptl_flow_batch.hpp>
#include <pocketflow_throttled/ptl_flow_nodes.hpp>
#include <pocketflow_throttled/ptl_flow_throttled.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace ptl {

// How one flow instance ended: its last action, or what it threw.
struct FlowOutcome {
  std::string action;
  std::exception_ptr error;
  bool ok() const noexcept { return error == nullptr; }
};

// A throttled flow's statistics; completed and failed count the latest run, as the original.
struct FlowStats {
  std::uint32_t max_concurrent_flows = 0;
  std::uint64_t max_flows_per_minute = 0;
  std::uint64_t completed_flows = 0, failed_flows = 0;
  BatchReport last_run;
};

// A parallel batch flow under its own limit: at most max_concurrent_flows instances at once,
// and at most max_flows_per_minute started per window_seconds.
class ThrottledParallelBatchFlow : public FlowBase {
 public:
  std::uint32_t max_concurrent_flows = 5;
  std::uint64_t max_flows_per_minute = 0;  // 0 = no throughput limit
  double window_seconds = 60.0;            // what max_flows_per_minute counts over

  ThrottledParallelBatchFlow() = default;
  template <std::derived_from<BaseNode> T>
  explicit ThrottledParallelBatchFlow(std::shared_ptr<T> start_node)
      : FlowBase(std::move(start_node)) {}
  // Limits from a flow preset: ptl::presets::get("flow_moderate").
  template <std::derived_from<BaseNode> T>
  ThrottledParallelBatchFlow(std::shared_ptr<T> start_node, const Preset& preset)
      : FlowBase(std::move(start_node)) {
    ThrottledParallelBatchFlow::apply(preset);
  }

  virtual void apply(const Preset& preset) {
    detail::expect_kind(preset,
                        preset.kind == PresetKind::flow || preset.kind == PresetKind::adaptive_flow,
                        "flow instances");
    apply(preset.config);
  }
  void apply(const LimiterConfig& limits) {
    max_concurrent_flows = limits.max_concurrent;
    max_flows_per_minute = limits.max_per_window;
    window_seconds = limits.window_seconds;
  }

  FlowStats stats() const {
    const detail::ExecutorState::Totals t = state_->totals();
    return {max_concurrent_flows, max_flows_per_minute, t.last_run.succeeded,
            t.last_run.failed + t.last_run.canceled, t.last_run};
  }

 protected:
  // One param set per instance.
  virtual std::vector<Params> prep(Shared& /*shared*/) { return {}; }
  // Every instance's outcome, in the order of the param sets.
  virtual std::string post(Shared& /*shared*/, std::vector<Params>& /*param_sets*/,
                           std::vector<FlowOutcome>& /*outcomes*/) {
    return "default";
  }
  // Whether an instance's exception other than ptl::RateLimitHit means "429". Default: no.
  virtual bool is_rate_limit_error(const std::exception& /*error*/) const { return false; }

  virtual BatchOptions batch_options() const {
    BatchOptions o;
    o.failure_policy = FailurePolicy::collect;
    o.limits = {.max_concurrent = max_concurrent_flows,
                .max_per_window = max_flows_per_minute,
                .window_seconds = window_seconds};
    return o;
  }
  detail::ExecutorState& state() const noexcept { return *state_; }

  std::string run_once(Shared& shared) override {
    std::vector<Params> sets = prep(shared);
    std::vector<FlowOutcome> outcomes(sets.size());
    Instances work(*this, shared, sets, outcomes);
    const BatchOptions o = batch_options();
    detail::NativeOptions native(o);
    detail::BlockingBatch batch(work, sets.size(), o.adaptive ? &state_->live : nullptr);
    detail::BatchOutcome out = batch.run(native.get());
    state_->record(out.report, o.adaptive.has_value());
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (out.statuses[i] == PTL_OK) continue;
      outcomes[i].error =
          out.errors[i]
              ? out.errors[i]
              : std::make_exception_ptr(Error(out.statuses[i], "the flow instance did not run"));
    }
    return post(shared, sets, outcomes);
  }

 private:
  // The flow's instances, seen by the batch runner: instance i runs the graph with its
  // params, in the context {this batch, i} that its nodes' nested batches report to.
  class Instances final : public detail::BatchWork {
   public:
    Instances(const ThrottledParallelBatchFlow& flow, Shared& shared,
              const std::vector<Params>& sets, std::vector<FlowOutcome>& outcomes)
        : flow_(flow), shared_(shared), sets_(sets), outcomes_(outcomes) {}
    void attempt(ptl_batch* batch, std::size_t i) override {
      outcomes_[i].action =
          flow_.orchestrate(shared_, flow_.params().merged_with(sets_[i]), RunContext{batch, i});
    }
    bool is_rate_limit_error(const std::exception& e) const override {
      return flow_.is_rate_limit_error(e);
    }

   private:
    const ThrottledParallelBatchFlow& flow_;
    Shared& shared_;
    const std::vector<Params>& sets_;
    std::vector<FlowOutcome>& outcomes_;
  };

  std::shared_ptr<detail::ExecutorState> state_ = std::make_shared<detail::ExecutorState>();
};

// The original's name for it.
using ThrottledAsyncParallelBatchFlow = ThrottledParallelBatchFlow;

// The adaptive flow's statistics.
struct AdaptiveFlowStats : FlowStats {
  std::uint32_t current_concurrent_flows = 0;
  std::uint64_t total_rate_limits = 0;  // over every run
  std::uint64_t total_backoffs = 0, total_recoveries = 0;
};

// A throttled parallel batch flow whose instance concurrency adapts: an instance failing
// with ptl::RateLimitHit, or a rate-limit signal propagated by an adaptive node inside an
// instance, shrinks it by backoff_factor; recovery_threshold consecutive successful instances
// grow it by recovery_factor; always within [min_concurrent_flows, max_concurrent_flows]. A
// run starts where the previous one ended.
class AdaptiveThrottledBatchFlow : public ThrottledParallelBatchFlow {
 public:
  std::uint32_t initial_concurrent_flows = 5;
  std::uint32_t min_concurrent_flows = 1;
  double backoff_factor = 0.5;
  std::uint32_t recovery_threshold = 10;
  double recovery_factor = 1.2;

  // max_concurrent_flows (inherited) is the ceiling here, 20 by default as in the original.
  AdaptiveThrottledBatchFlow() { max_concurrent_flows = 20; }
  template <std::derived_from<BaseNode> T>
  explicit AdaptiveThrottledBatchFlow(std::shared_ptr<T> start_node)
      : ThrottledParallelBatchFlow(std::move(start_node)) {
    max_concurrent_flows = 20;
  }
  // Settings from a flow preset; an adaptive one ("flow_adaptive_moderate") sets them all.
  template <std::derived_from<BaseNode> T>
  AdaptiveThrottledBatchFlow(std::shared_ptr<T> start_node, const Preset& preset)
      : AdaptiveThrottledBatchFlow(std::move(start_node)) {
    AdaptiveThrottledBatchFlow::apply(preset);
  }

  using ThrottledParallelBatchFlow::apply;
  void apply(const Preset& preset) override {
    detail::expect_kind(preset,
                        preset.kind == PresetKind::flow || preset.kind == PresetKind::adaptive_flow,
                        "flow instances");
    const std::uint32_t ceiling = max_concurrent_flows;
    ThrottledParallelBatchFlow::apply(preset.config);
    initial_concurrent_flows = preset.config.max_concurrent;
    max_concurrent_flows = std::max(ceiling, initial_concurrent_flows);
    if (preset.kind == PresetKind::adaptive_flow) {
      min_concurrent_flows = preset.adaptive.min_concurrent;
      max_concurrent_flows = preset.adaptive.max_concurrent;
      recovery_threshold = preset.adaptive.recovery_threshold;
      backoff_factor = preset.adaptive.backoff_factor;
      recovery_factor = preset.adaptive.recovery_factor;
    }
  }

  // The level now: during a run as of its latest instance start, else where the last run
  // ended (or initial_concurrent_flows before any run).
  std::uint32_t current_concurrent_flows() const {
    const std::uint32_t live = state().live.load(std::memory_order_relaxed);
    return live != 0 ? live
                     : state().start_level(initial_concurrent_flows, min_concurrent_flows,
                                           max_concurrent_flows);
  }

  AdaptiveFlowStats stats() const {
    AdaptiveFlowStats s;
    static_cast<FlowStats&>(s) = ThrottledParallelBatchFlow::stats();
    const detail::ExecutorState::Totals t = state().totals();
    s.current_concurrent_flows = current_concurrent_flows();
    s.total_rate_limits = t.rate_limited;
    s.total_backoffs = t.backoffs;
    s.total_recoveries = t.recoveries;
    return s;
  }

  // Forgets what was learned and the totals: the next run starts at initial_concurrent_flows.
  void reset_adaptive_state() { state().reset(); }

 protected:
  BatchOptions batch_options() const override {
    BatchOptions o = ThrottledParallelBatchFlow::batch_options();
    o.adaptive =
        AdaptiveConfig{.initial_concurrent = state().start_level(
                           initial_concurrent_flows, min_concurrent_flows, max_concurrent_flows),
                       .min_concurrent = min_concurrent_flows,
                       .max_concurrent = max_concurrent_flows,
                       .recovery_threshold = recovery_threshold,
                       .backoff_factor = backoff_factor,
                       .recovery_factor = recovery_factor};
    o.limits.max_concurrent = o.adaptive->initial_concurrent;
    return o;
  }
};

}  // namespace ptl
