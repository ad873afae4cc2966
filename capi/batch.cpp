// SPDX-License-Identifier: MIT
// Batch executor entry points: ptl_batch_options into exec::RunOptions, the C
// callbacks behind small adapters, and ptl_batch handles that are exec::BatchRun.
#include <chrono>
#include <memory>
#include <string>

#include "core/rate_headers.hpp"
#include "exec/batch.hpp"
#include "shim.hpp"
#include "struct_size.hpp"

using ptl::capi::guarded;
using ptl::capi::require;
namespace core = ptl::core;
namespace exec = ptl::exec;

namespace {

struct EstimateAdapter {
  ptl_estimate_fn fn;
  void* user;
  static size_t call(void* self, size_t index, exec::RawAmount* out, size_t cap) {
    auto* a = static_cast<EstimateAdapter*>(self);
    ptl_amount given[PTL_MAX_LIMITS] = {};
    const size_t n = std::min(a->fn(a->user, index, given, std::min<size_t>(cap, PTL_MAX_LIMITS)),
                              std::min<size_t>(cap, PTL_MAX_LIMITS));
    for (size_t i = 0; i < n; ++i) out[i] = {given[i].unit, given[i].amount};
    return n;
  }
};

exec::BatchRun& run_of(ptl_batch* batch) {
  require(batch, "batch");
  return *reinterpret_cast<exec::BatchRun*>(batch);
}

ptl_batch* to_handle(exec::BatchRun* run) {
  return reinterpret_cast<ptl_batch*>(run);
}

// The first published layouts (0.1) of the executors' structs.
constexpr size_t kAdaptiveConfigV1Size = sizeof(ptl_adaptive_config);
constexpr size_t kBatchOptionsV1Size = offsetof(ptl_batch_options, parent_index) + sizeof(size_t);

exec::ControllerConfig to_core(const ptl_adaptive_config& given) {
  ptl_adaptive_config defaults;
  ptl_adaptive_config_init(&defaults);
  const ptl_adaptive_config in =
      ptl::capi::read_in_struct(&given, defaults, kAdaptiveConfigV1Size, "ptl_adaptive_config");
  exec::ControllerConfig out;
  out.initial_concurrent = in.initial_concurrent;
  out.min_concurrent = in.min_concurrent;
  out.max_concurrent = in.max_concurrent;
  out.recovery_threshold = in.recovery_threshold;
  out.backoff_factor = in.backoff_factor;
  out.recovery_factor = in.recovery_factor;
  return out;  // validated with the batch's options
}

exec::RunOptions to_core(const ptl_batch_options* given) {
  require(given, "options");
  ptl_batch_options defaults;
  ptl_batch_options_init(&defaults);
  const ptl_batch_options copy =
      ptl::capi::read_in_struct(given, defaults, kBatchOptionsV1Size, "ptl_batch_options");
  const ptl_batch_options* in = &copy;
  exec::RunOptions out;
  if (in->adaptive != nullptr) out.adaptive = to_core(*in->adaptive);
  out.limits = ptl::capi::read_config(&in->limits);
  if (in->shared != nullptr) out.shared = core::LimiterPtr(&ptl::capi::limiter_of(in->shared));
  out.max_attempts = in->max_attempts;
  out.retry_wait_ns = in->retry_wait_ns;
  out.failure_policy = static_cast<exec::OnFailure>(in->failure_policy);
  out.classify = {in->classify, in->classify_user};
  out.fallback = {in->fallback, in->fallback_user};
  if (in->estimate != nullptr) {
    if (!out.shared)
      core::fail(core::Status::kInvalid, "an estimate function needs a shared limiter");
    auto adapter =
        std::make_shared<EstimateAdapter>(EstimateAdapter{in->estimate, in->estimate_user});
    out.estimate = {&EstimateAdapter::call, adapter.get()};
    out.keep_alive.push_back(adapter);
  }
  if (in->parent != nullptr) out.parent = &run_of(in->parent);
  out.parent_index = in->parent_index;
  if (out.parent != nullptr && out.parent_index >= out.parent->size()) {
    core::fail(core::Status::kInvalid, "parent_index " + std::to_string(out.parent_index) +
                                           " is out of range for the parent batch");
  }
  out.prepare();
  return out;
}

void report_to_c(const exec::RunCounts& in, ptl_batch_report* out) {
  ptl_batch_report full{};
  full.struct_size = sizeof(ptl_batch_report);
  full.concurrency = in.concurrency;
  full.peak_in_flight = in.peak_in_flight;
  full.items = in.items;
  full.succeeded = in.succeeded;
  full.failed = in.failed;
  full.canceled = in.canceled;
  full.pending = in.pending;
  full.attempts = in.attempts;
  full.retries = in.retries;
  full.rate_limited = in.rate_limited;
  full.fallbacks = in.fallbacks;
  full.backoffs = in.backoffs;
  full.recoveries = in.recoveries;
  full.elapsed_ns = in.elapsed_ns;
  ptl::capi::write_out_struct(full, out, sizeof(ptl_batch_report), "ptl_batch_report");
}

// The C callbacks take ptl_batch*, the core's take BatchRun*: these adapters convert.
struct BlockingAdapter {
  ptl_item_fn fn;
  void* user;
  static int call(void* self, exec::BatchRun* run, size_t index, uint32_t attempt,
                  core::Nanos* retry_after_ns) {
    auto* a = static_cast<BlockingAdapter*>(self);
    return a->fn(a->user, to_handle(run), index, attempt, retry_after_ns);
  }
};

struct StartAdapter {
  ptl_item_start_fn start;
  ptl_batch_done_fn done;
  void* user;
  static void start_item(void* self, exec::BatchRun* run, size_t index, uint32_t attempt) {
    auto* a = static_cast<StartAdapter*>(self);
    a->start(a->user, to_handle(run), index, attempt);
  }
  static void finished(void* self, exec::BatchRun* run) {
    auto* a = static_cast<StartAdapter*>(self);
    if (a->done != nullptr) a->done(a->user, to_handle(run));
  }
};

}  // namespace

extern "C" {

void ptl_adaptive_config_init(ptl_adaptive_config* cfg) {
  if (cfg == nullptr) return;
  const exec::ControllerConfig d;
  *cfg = ptl_adaptive_config{};
  cfg->struct_size = sizeof(ptl_adaptive_config);
  cfg->initial_concurrent = d.initial_concurrent;
  cfg->min_concurrent = d.min_concurrent;
  cfg->max_concurrent = d.max_concurrent;
  cfg->recovery_threshold = d.recovery_threshold;
  cfg->backoff_factor = d.backoff_factor;
  cfg->recovery_factor = d.recovery_factor;
}

void ptl_batch_options_init(ptl_batch_options* opts) {
  if (opts == nullptr) return;
  *opts = ptl_batch_options{};
  opts->struct_size = sizeof(ptl_batch_options);
  opts->failure_policy = PTL_BATCH_COLLECT;
  ptl_limiter_config_init(&opts->limits);
  opts->max_attempts = 1;
}

int ptl_batch_run(const ptl_batch_options* opts, size_t n, ptl_item_fn fn, void* user,
                  int* statuses, ptl_batch_report* report) {
  return guarded("ptl_batch_run", [&] {
    exec::RunOptions options = to_core(opts);
    require(reinterpret_cast<const void*>(fn), "item function");
    if (report != nullptr) report_to_c({}, report);  // refuses an unset size before running
    BlockingAdapter adapter{fn, user};
    const exec::RunCounts r =
        exec::run_blocking(std::move(options), n, opts->worker_threads, &BlockingAdapter::call,
                           &adapter, std::span<int>(statuses, statuses == nullptr ? 0 : n));
    if (report != nullptr) report_to_c(r, report);
    if (r.failed == 0 && r.canceled == 0) return PTL_OK;
    return ptl::capi::set_error(PTL_EITEMS, "ptl_batch_run: " + std::to_string(r.failed) + " of " +
                                                std::to_string(n) + " items failed, " +
                                                std::to_string(r.canceled) + " cancelled");
  });
}

int ptl_batch_start(const ptl_batch_options* opts, size_t n, ptl_item_start_fn start,
                    ptl_batch_done_fn done, void* user, ptl_batch** out) {
  return guarded("ptl_batch_start", [&] {
    exec::RunOptions options = to_core(opts);
    require(reinterpret_cast<const void*>(start), "start function");
    require(out, "out");
    auto adapter = std::make_shared<StartAdapter>(StartAdapter{start, done, user});
    options.keep_alive.push_back(adapter);
    exec::BatchRun* run =
        exec::BatchRun::start(std::move(options), n, {&StartAdapter::start_item, adapter.get()},
                              {&StartAdapter::finished, adapter.get()});
    *out = to_handle(run);
    return PTL_OK;
  });
}

int ptl_batch_complete(ptl_batch* batch, size_t index, int status, int64_t retry_after_ns) {
  return guarded("ptl_batch_complete", [&] {
    run_of(batch).complete(index, status, retry_after_ns);
    return PTL_OK;
  });
}

int ptl_batch_signal(ptl_batch* batch, size_t index, int64_t retry_after_ns) {
  return guarded("ptl_batch_signal", [&] {
    run_of(batch).signal(index, retry_after_ns);
    return PTL_OK;
  });
}

int ptl_batch_settle(ptl_batch* batch, size_t index, const ptl_amount* actual, size_t n) {
  return guarded("ptl_batch_settle", [&] {
    exec::BatchRun& run = run_of(batch);
    const std::vector<core::UnitAmount> amounts = ptl::capi::amounts_of(actual, n);
    run.settle(index, core::Demand{amounts.data(), amounts.size()});
    return PTL_OK;
  });
}

int ptl_batch_observe_headers(ptl_batch* batch, size_t index, size_t n, const char* const* names,
                              const char* const* values) {
  return guarded("ptl_batch_observe_headers", [&] {
    exec::BatchRun& run = run_of(batch);
    if (index >= run.size()) {
      core::fail(core::Status::kInvalid,
                 "item index " + std::to_string(index) + " is out of range");
    }
    if (n > 0) {
      require(names, "names");
      require(values, "values");
    }
    const core::RateHeaders parsed =
        core::parse_rate_headers(n, names, values, std::chrono::system_clock::now());
    int applied = 0;
    if (core::LimiterBackend* shared = run.shared())
      applied += ptl::capi::observe_all(*shared, parsed);
    if (parsed.retry_after_ns) {
      run.signal(index, *parsed.retry_after_ns);
      ++applied;
    }
    return applied;
  });
}

int ptl_batch_wait(ptl_batch* batch, int64_t timeout_ns) {
  return guarded("ptl_batch_wait", [&] {
    if (run_of(batch).wait(timeout_ns)) return PTL_OK;
    return ptl::capi::set_error(PTL_ETIMEDOUT, "ptl_batch_wait: items still unsettled after " +
                                                   std::to_string(timeout_ns) + " ns");
  });
}

int ptl_batch_cancel(ptl_batch* batch) {
  return guarded("ptl_batch_cancel", [&] {
    run_of(batch).cancel();
    return PTL_OK;
  });
}

int ptl_batch_report_get(ptl_batch* batch, ptl_batch_report* out, int* statuses, size_t n) {
  return guarded("ptl_batch_report_get", [&] {
    exec::BatchRun& run = run_of(batch);
    if (statuses == nullptr && n != 0) core::fail(core::Status::kInvalid, "statuses is NULL");
    const exec::RunCounts r = run.report(std::span<int>(statuses, statuses == nullptr ? 0 : n));
    if (out != nullptr) report_to_c(r, out);
    return PTL_OK;
  });
}

void ptl_batch_free(ptl_batch* batch) {
  if (batch == nullptr) return;
  guarded("ptl_batch_free", [&] {
    run_of(batch).release();
    return PTL_OK;
  });
}

}  // extern "C"
