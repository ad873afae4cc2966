// SPDX-License-Identifier: MIT
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

#include <pocketflow_throttled/ptl_flow_blocking.hpp>
#include <pocketflow_throttled/ptl_flow_graph.hpp>
#include <pocketflow_throttled/ptl_flow_rules.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ptl {

// A parallel batch node under a limit of its own and optionally a shared limiter (the
// settings and statistics are ThrottledNodeSettings'). Results come in input order. Under
// fail-fast, items not started are cancelled and, once the running ones end, the node throws
// the failure of the lowest index.
template <class Item, class Result>
class ThrottledParallelBatchNode : public BaseNode, public ThrottledNodeSettings {
 public:
  ThrottledParallelBatchNode() = default;
  // Limits from a node preset: ptl::presets::get("openai_tier1").
  explicit ThrottledParallelBatchNode(const Preset& preset) {
    ThrottledNodeSettings::apply(preset);
  }

 protected:
  virtual std::vector<Item> prep(Shared& /*shared*/) { return {}; }
  // One call; runs on a worker thread, concurrently with other items.
  virtual Result exec(const Item& item) const = 0;
  // After an item's last failed attempt; its result stands for exec's. Default: rethrow.
  virtual Result exec_fallback(const Item& /*item*/, std::exception_ptr error) const {
    std::rethrow_exception(std::move(error));
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

  std::string run_once(Shared& shared) override {
    std::vector<Item> items = prep(shared);
    std::vector<std::optional<Result>> slots(items.size());
    Work work(*this, items, slots);
    const BatchOptions o = batch_options();
    detail::NativeOptions native(o);
    detail::BlockingBatch batch(work, items.size(), o.adaptive ? &state().live : nullptr);
    const detail::BatchOutcome out = batch.run(native.get());
    finish_run(out.stats, o.adaptive.has_value(), out.statuses, out.errors);
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
};

// A throttled node whose concurrency adapts: a rate-limit signal (ptl::RateLimitHit, or an
// exception is_rate_limit_error accepts) shrinks it by backoff_factor, recovery_threshold
// consecutive successes grow it by recovery_factor, always within [min_concurrent,
// max_concurrent]. A run starts where the previous one ended (copies share what was learned).
// Inside a throttled batch flow instance, with propagate_rate_limit, its signals also reach
// the flow, so an adaptive flow backs off too.
template <class Item, class Result>
class AdaptiveThrottledNode : public ThrottledParallelBatchNode<Item, Result>,
                              public AdaptiveTuning {
  using Base = ThrottledParallelBatchNode<Item, Result>;

 public:
  std::uint32_t initial_concurrent = 5;
  std::uint32_t min_concurrent = 1;
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
  std::uint32_t current_concurrent() const { return this->state().level(own_controller()); }

  AdaptiveNodeStats stats() const {
    AdaptiveNodeStats s;
    static_cast<NodeStats&>(s) = Base::stats();
    const detail::ExecutorState::Totals t = this->state().stats();
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
    o.adaptive = this->state().resume(own_controller());
    if (propagate_rate_limit) o.parent = this->context();
    return o;
  }

 private:
  AdaptiveConfig own_controller() const {
    return controller(initial_concurrent, min_concurrent, this->max_concurrent);
  }
};

}  // namespace ptl
