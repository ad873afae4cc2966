// ptl_flow_asio_throttled.hpp - AsyncThrottledParallelBatchNode and
// AsyncThrottledParallelBatchFlow: the throttled executors with items (or instances) as
// coroutines through ptl_batch_start. Included by ptl_flow_asio.hpp; see there.
#pragma once

#include <pocketflow_throttled/ptl_flow_asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ptl {

namespace detail {

// How an item coroutine's attempt ended, for ptl_batch_complete.
struct AttemptEnd {
  int status = PTL_OK;
  std::int64_t retry_after_ns = -1;
  std::exception_ptr error;
};

// The status of a failed attempt whose exception `error` is in flight (call in a handler).
template <class IsRateLimit>
AttemptEnd attempt_failure(IsRateLimit&& is_rate_limit) noexcept {
  AttemptEnd end{kStatusExecFailed, -1, std::current_exception()};
  try {
    throw;
  } catch (const RateLimitHit& e) {
    end.status = PTL_ERATELIMITED;
    if (e.retry_after()) end.retry_after_ns = clamp_ns(*e.retry_after());
  } catch (const std::exception& e) {
    try {
      if (is_rate_limit(e)) end.status = PTL_ERATELIMITED;
    } catch (...) {
    }
  } catch (...) {
  }
  return end;
}

}  // namespace detail

// The throttled parallel batch node as coroutines: exec_async of each item runs on the
// executor the node is awaited on, at most max_concurrent at once (and max_per_minute per
// window_seconds, and one permit of shared_limiter each when set). Results in input order;
// policies as ThrottledParallelBatchNode. exec_fallback_async runs in the item's coroutine
// after its last attempt (an item whose retries a fail-fast cancel stopped gets none).
template <class Item, class Result>
class AsyncThrottledParallelBatchNode : public BaseNode, public AsyncRunnable {
 public:
  std::uint32_t max_concurrent = 5;
  std::uint64_t max_per_minute = 0;
  double window_seconds = 60.0;
  int max_retries = 1;
  std::chrono::nanoseconds wait{0};
  Limiter shared_limiter;
  FailurePolicy failure_policy = FailurePolicy::fail_fast;

  AsyncThrottledParallelBatchNode() = default;
  explicit AsyncThrottledParallelBatchNode(const Preset& preset) { apply(preset); }
  void apply(const Preset& preset) {
    detail::expect_kind(preset, preset.kind == PresetKind::node, "a node");
    max_concurrent = preset.config.max_concurrent;
    max_per_minute = preset.config.max_per_window;
    window_seconds = preset.config.window_seconds;
  }

  NodeStats stats() const {
    const detail::ExecutorState::Totals t = state_->totals();
    return {max_concurrent, max_per_minute, t.runs,    t.items,   t.succeeded,
            t.failed,       t.rate_limited, t.retries, t.last_run};
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
    std::rethrow_exception(error);
  }
  virtual Awaitable<std::string> post_async(Shared& /*shared*/, std::vector<Item>& /*items*/,
                                            std::vector<Result>& /*results*/) {
    co_return "default";
  }
  virtual bool is_rate_limit_error(const std::exception& error) const {
    return detail::mentions_rate_limit(error.what());
  }
  const std::vector<ItemFailure>& failures() const noexcept { return failures_; }

  std::string run_once(Shared& /*shared*/) override { detail::throw_needs_run_async(); }

  Awaitable<std::string> run_once_async(Shared& shared) override {
    if (max_retries < 1) throw Error(PTL_EINVAL, "max_retries must be >= 1");
    BatchOptions o;
    o.failure_policy = failure_policy;
    o.limits = {.max_concurrent = max_concurrent,
                .max_per_window = max_per_minute,
                .window_seconds = window_seconds};
    o.shared = shared_limiter;
    o.max_attempts = static_cast<std::uint32_t>(max_retries);
    o.retry_wait = wait;

    std::vector<Item> items = co_await prep_async(shared);
    auto run = std::make_shared<Run>(*this, std::move(items), o.max_attempts);
    // Named, not a temporary: GCC 12 destroys a class-type prvalue passed by value to a
    // coroutine twice (see detail::run_coroutine_batch).
    const auto item = [run](BatchView b, std::size_t i, std::uint32_t attempt) {
      return run_item(run, b, i, attempt);
    };
    detail::BatchEnd end = co_await detail::run_coroutine_batch(o, run->items.size(), item);
    BatchReport& report = end.report;
    const std::vector<int>& statuses = end.statuses;
    report.fallbacks += run->fallbacks.load();
    state_->record(report, false);

    failures_.clear();
    for (std::size_t i = 0; i < statuses.size(); ++i) {
      if (statuses[i] == PTL_OK) continue;
      if (failure_policy == FailurePolicy::fail_fast) {
        for (const std::exception_ptr& e : run->errors)
          if (e) std::rethrow_exception(e);
        throw Error(PTL_ECANCELED, "the batch was cancelled before its items ran");
      }
      failures_.push_back({i, statuses[i], run->errors[i]});
    }
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
      end = detail::attempt_failure(
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

  std::shared_ptr<detail::ExecutorState> state_ = std::make_shared<detail::ExecutorState>();
  std::vector<ItemFailure> failures_;
};

// The throttled parallel batch flow as coroutines: each instance walks the graph as a
// coroutine on the flow's executor, at most max_concurrent_flows at once; failures are
// collected, never cancelling the other instances.
class AsyncThrottledParallelBatchFlow : public AsyncFlowBase {
 public:
  std::uint32_t max_concurrent_flows = 5;
  std::uint64_t max_flows_per_minute = 0;
  double window_seconds = 60.0;

  AsyncThrottledParallelBatchFlow() = default;
  template <std::derived_from<BaseNode> T>
  explicit AsyncThrottledParallelBatchFlow(std::shared_ptr<T> start_node)
      : AsyncFlowBase(std::move(start_node)) {}
  template <std::derived_from<BaseNode> T>
  AsyncThrottledParallelBatchFlow(std::shared_ptr<T> start_node, const Preset& preset)
      : AsyncFlowBase(std::move(start_node)) {
    apply(preset);
  }
  void apply(const Preset& preset) {
    detail::expect_kind(preset,
                        preset.kind == PresetKind::flow || preset.kind == PresetKind::adaptive_flow,
                        "flow instances");
    max_concurrent_flows = preset.config.max_concurrent;
    max_flows_per_minute = preset.config.max_per_window;
    window_seconds = preset.config.window_seconds;
  }

  FlowStats stats() const {
    const detail::ExecutorState::Totals t = state_->totals();
    return {max_concurrent_flows, max_flows_per_minute, t.last_run.succeeded,
            t.last_run.failed + t.last_run.canceled, t.last_run};
  }

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
    BatchOptions o;
    o.limits = {.max_concurrent = max_concurrent_flows,
                .max_per_window = max_flows_per_minute,
                .window_seconds = window_seconds};
    std::vector<Params> sets = co_await prep_async(shared);
    auto run = std::make_shared<Run>(*this, shared, std::move(sets));
    const auto instance = [run](BatchView b, std::size_t i, std::uint32_t) {
      return run_instance(run, b, i);
    };
    detail::BatchEnd end = co_await detail::run_coroutine_batch(o, run->sets.size(), instance);
    state_->record(end.report, false);
    for (std::size_t i = 0; i < end.statuses.size(); ++i) {
      if (end.statuses[i] != PTL_OK && !run->outcomes[i].error)
        run->outcomes[i].error =
            std::make_exception_ptr(Error(end.statuses[i], "the flow instance did not run"));
    }
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
      end = detail::attempt_failure(
          [&](const std::exception& e) { return run->flow.is_rate_limit_error(e); });
    }
    run->outcomes[i].error = end.error;
    ptl_batch_complete(batch.native_handle(), i, end.status, end.retry_after_ns);
  }

  std::shared_ptr<detail::ExecutorState> state_ = std::make_shared<detail::ExecutorState>();
};

}  // namespace ptl
