// SPDX-License-Identifier: MIT
// ptl_flow_throttled_flow.hpp - the original's ThrottledAsyncParallelBatchFlow (here
// ThrottledParallelBatchFlow: its instances run on threads; the coroutine form is
// AsyncThrottledParallelBatchFlow in ptl_flow_asio.hpp) and AdaptiveThrottledBatchFlow over
// ptl_batch_run. Included by ptl_flow.hpp.
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

#include <pocketflow_throttled/ptl_flow_blocking.hpp>
#include <pocketflow_throttled/ptl_flow_nodes.hpp>
#include <pocketflow_throttled/ptl_flow_rules.hpp>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace ptl {

// A parallel batch flow under its own limit (the settings and statistics are
// ThrottledFlowSettings'): each instance runs the graph on a library worker thread.
class ThrottledParallelBatchFlow : public detail::ThrottledFlowOf<FlowBase> {
 public:
  // (), (start_node) and (start_node, flow preset).
  using ThrottledFlowOf::ThrottledFlowOf;

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

  std::string run_once(Shared& shared) override {
    std::vector<Params> sets = prep(shared);
    std::vector<FlowOutcome> outcomes(sets.size());
    Instances work(*this, shared, sets, outcomes);
    const BatchOptions o = batch_options();
    detail::NativeOptions native(o);
    detail::BlockingBatch batch(work, sets.size(), o.adaptive ? &state().live : nullptr);
    const detail::BatchOutcome out = batch.run(native.get());
    for (std::size_t i = 0; i < outcomes.size(); ++i)
      if (out.statuses[i] != PTL_OK) outcomes[i].error = out.errors[i];
    finish_run(out.stats, o.adaptive.has_value(), out.statuses, outcomes);
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
};

// The original library's name. Its instances run on threads here, although the name says
// "Async": the coroutine form is AsyncThrottledParallelBatchFlow.
using ThrottledAsyncParallelBatchFlow
    [[deprecated("use ThrottledParallelBatchFlow (threads) or AsyncThrottledParallelBatchFlow "
                 "(coroutines, ptl_flow_asio.hpp)")]] = ThrottledParallelBatchFlow;

// A throttled parallel batch flow whose instance concurrency adapts: an instance failing
// with ptl::RateLimitHit, or a rate-limit signal propagated by an adaptive node inside an
// instance, shrinks it by backoff_factor; recovery_threshold consecutive successful instances
// grow it by recovery_factor; always within [min_concurrent_flows, max_concurrent_flows]. A
// run starts where the previous one ended.
class AdaptiveThrottledBatchFlow : public ThrottledParallelBatchFlow, public AdaptiveTuning {
 public:
  std::uint32_t initial_concurrent_flows = 5;
  std::uint32_t min_concurrent_flows = 1;

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

  using ThrottledFlowSettings::apply;
  void apply(const Preset& preset) override {
    detail::expect_kind(preset, detail::configures_flows(preset), "flow instances");
    const std::uint32_t ceiling = max_concurrent_flows;
    ThrottledFlowSettings::apply(preset.config);
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
  std::uint32_t current_concurrent_flows() const { return state().level(own_controller()); }

  AdaptiveFlowStats stats() const {
    AdaptiveFlowStats s;
    static_cast<FlowStats&>(s) = ThrottledFlowSettings::stats();
    const detail::ExecutorState::Totals t = state().stats();
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
    o.adaptive = state().resume(own_controller());
    return o;
  }

 private:
  AdaptiveConfig own_controller() const {
    return controller(initial_concurrent_flows, min_concurrent_flows, max_concurrent_flows);
  }
};

}  // namespace ptl
