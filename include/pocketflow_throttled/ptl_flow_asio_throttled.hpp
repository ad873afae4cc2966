// SPDX-License-Identifier: MIT
// ptl_flow_asio_throttled.hpp - AsyncThrottledParallelBatchNode and
// AsyncThrottledParallelBatchFlow: the throttled executors with items (or instances) as
// coroutines through ptl_batch_start. Included by ptl_flow_asio.hpp; see there.
#pragma once

#include <pocketflow_throttled/ptl_flow_asio.hpp>
#include <pocketflow_throttled/ptl_flow_rules.hpp>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ptl {

// The throttled parallel batch node as coroutines: exec_async of each item runs on the
// executor the node is awaited on, under the limits of ThrottledNodeSettings. Results in
// input order; policies as ThrottledParallelBatchNode. exec_fallback_async runs in the
// item's coroutine after its last attempt (an item whose retries a fail-fast cancel stopped
// gets none).
template <class Item, class Result>
class AsyncThrottledParallelBatchNode : public BaseNode,
                                        public AsyncRunnable,
                                        public ThrottledNodeSettings {
 public:
  AsyncThrottledParallelBatchNode() = default;
  explicit AsyncThrottledParallelBatchNode(const Preset& preset) {
    ThrottledNodeSettings::apply(preset);
  }

  // Runs this node alone.
  Awaitable<std::string> run_async(Shared& shared) {
    co_return detail::action_name(co_await run_once_async(shared));
  }

 protected:
  virtual Awaitable<std::vector<Item>> prep_async(Shared& /*shared*/) {
    co_return std::vector<Item>{};
  }
  // One call, as a coroutine on the node's executor; several run at once.
  virtual Awaitable<Result> exec_async(const Item& item) const = 0;
  virtual Awaitable<Result> exec_fallback_async(const Item& /*item*/,
                                                std::exception_ptr error) const {
    std::rethrow_exception(std::move(error));
  }
  virtual Awaitable<std::string> post_async(Shared& /*shared*/, std::vector<Item>& /*items*/,
                                            std::vector<Result>& /*results*/) {
    co_return "default";
  }
  virtual bool is_rate_limit_error(const std::exception& error) const {
    return detail::mentions_rate_limit(error.what());
  }
  std::string run_once(Shared& /*shared*/) override { detail::throw_needs_run_async(); }

  Awaitable<std::string> run_once_async(Shared& shared) override {
    const BatchOptions o = batch_options();
    std::vector<Item> items = co_await prep_async(shared);
    auto run = std::make_shared<Run>(*this, std::move(items), o.max_attempts);
    // Named, not a temporary: GCC 12 destroys a class-type prvalue passed by value to a
    // coroutine twice (see detail::run_coroutine_batch).
    const auto item = [run](BatchView b, std::size_t i, std::uint32_t attempt) {
      return run_item(run, b, i, attempt);
    };
    detail::BatchEnd end = co_await detail::run_coroutine_batch(o, run->items.size(), item);
    // The library counts only its own fallbacks; these ran in the item coroutines.
    end.stats.fallbacks += run->fallbacks.load();
    finish_run(end.stats, false, end.statuses, run->errors);
    std::vector<Result> results = detail::take_results(run->slots);
    co_return co_await post_async(shared, run->items, results);
  }

 private:
  // One run's items and what they produced, shared with the item coroutines.
  struct Run {
    Run(const AsyncThrottledParallelBatchNode& n, std::vector<Item> its, std::uint32_t attempts)
        : node(n),
          items(std::move(its)),
          slots(items.size()),
          errors(items.size()),
          max_attempts(attempts) {}
    const AsyncThrottledParallelBatchNode& node;  // alive: its run awaits the batch's end
    std::vector<Item> items;
    std::vector<std::optional<Result>> slots;
    std::vector<std::exception_ptr> errors;  // each written only by its item's attempt
    std::uint32_t max_attempts;
    std::atomic<std::uint64_t> fallbacks{0};
  };

  // One attempt of item i, reported with ptl_batch_complete. Throws nothing.
  static Awaitable<void> run_item(std::shared_ptr<Run> run, BatchView batch, std::size_t i,
                                  std::uint32_t attempt) {
    detail::AttemptEnd end;
    try {
      run->slots[i] = co_await run->node.exec_async(run->items[i]);
    } catch (...) {
      end = detail::status_of_exception(
          [&](const std::exception& e) { return run->node.is_rate_limit_error(e); });
    }
    if (end.status != PTL_OK && attempt >= run->max_attempts) {
      std::exception_ptr rethrown;
      try {
        run->slots[i] = co_await run->node.exec_fallback_async(run->items[i], end.error);
      } catch (...) {
        rethrown = std::current_exception();
      }
      if (!rethrown) {
        // Rescued: the item succeeds, but the 429 still reaches the limiter's controls.
        if (end.status == PTL_ERATELIMITED)
          ptl_batch_signal(batch.native_handle(), i, end.retry_after_ns);
        end = {};
        ++run->fallbacks;
      } else {
        end.error = rethrown;
      }
    }
    run->errors[i] = end.error;
    ptl_batch_complete(batch.native_handle(), i, end.status, end.retry_after_ns);
  }
};

// The throttled parallel batch flow as coroutines: each instance walks the graph as a
// coroutine on the flow's executor, under the limits of ThrottledFlowSettings; failures are
// collected, never cancelling the other instances.
class AsyncThrottledParallelBatchFlow : public detail::ThrottledFlowOf<AsyncFlowBase> {
 public:
  // (), (start_node) and (start_node, flow preset).
  using ThrottledFlowOf::ThrottledFlowOf;

  Awaitable<std::string> run_async(Shared& shared) {
    co_return detail::action_name(co_await run_once_async(shared));
  }

 protected:
  virtual Awaitable<std::vector<Params>> prep_async(Shared& /*shared*/) {
    co_return std::vector<Params>{};
  }
  virtual Awaitable<std::string> post_async(Shared& /*shared*/, std::vector<Params>& /*sets*/,
                                            std::vector<FlowOutcome>& /*outcomes*/) {
    co_return "default";
  }
  virtual bool is_rate_limit_error(const std::exception& /*error*/) const { return false; }

  Awaitable<std::string> run_once_async(Shared& shared) override {
    const BatchOptions o = batch_options();
    std::vector<Params> sets = co_await prep_async(shared);
    auto run = std::make_shared<Run>(*this, shared, std::move(sets));
    const auto instance = [run](BatchView b, std::size_t i, std::uint32_t) {
      return run_instance(run, b, i);
    };
    detail::BatchEnd end = co_await detail::run_coroutine_batch(o, run->sets.size(), instance);
    finish_run(end.stats, false, end.statuses, run->outcomes);
    co_return co_await post_async(shared, run->sets, run->outcomes);
  }

 private:
  struct Run {
    Run(const AsyncThrottledParallelBatchFlow& f, Shared& s, std::vector<Params> ps)
        : flow(f), shared(s), sets(std::move(ps)), outcomes(sets.size()) {}
    const AsyncThrottledParallelBatchFlow& flow;
    Shared& shared;
    std::vector<Params> sets;
    std::vector<FlowOutcome> outcomes;  // each written only by its instance
  };

  static Awaitable<void> run_instance(std::shared_ptr<Run> run, BatchView batch, std::size_t i) {
    detail::AttemptEnd end;
    const Params params = run->flow.params().merged_with(run->sets[i]);  // named: see above
    try {
      run->outcomes[i].action = co_await run->flow.orchestrate_async(
          run->shared, params, RunContext{batch.native_handle(), i});
    } catch (...) {
      end = detail::status_of_exception(
          [&](const std::exception& e) { return run->flow.is_rate_limit_error(e); });
    }
    run->outcomes[i].error = end.error;
    ptl_batch_complete(batch.native_handle(), i, end.status, end.retry_after_ns);
  }
};

}  // namespace ptl
