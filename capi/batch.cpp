// Batch executor entry points: ptl_batch_options into exec::BatchOptions, the C
// callbacks behind small adapters, and ptl_batch handles that are exec::BatchRun.
#include <memory>
#include <string>

#include "exec/batch.hpp"
#include "shim.hpp"

using ptl::capi::guarded;
using ptl::capi::require;
namespace core = ptl::core;
namespace exec = ptl::exec;

namespace {

exec::BatchRun& run_of(ptl_batch* batch) {
  require(batch, "batch");
  return *reinterpret_cast<exec::BatchRun*>(batch);
}

ptl_batch* to_handle(exec::BatchRun* run) {
  return reinterpret_cast<ptl_batch*>(run);
}

exec::AdaptiveConfig to_core(const ptl_adaptive_config& in) {
  if (in.struct_size < sizeof(ptl_adaptive_config)) {
    core::fail(core::Status::kInvalid, "adaptive config struct_size is " +
                                           std::to_string(in.struct_size) +
                                           " (call ptl_adaptive_config_init first)");
  }
  exec::AdaptiveConfig out;
  out.initial_concurrent = in.initial_concurrent;
  out.min_concurrent = in.min_concurrent;
  out.max_concurrent = in.max_concurrent;
  out.recovery_threshold = in.recovery_threshold;
  out.backoff_factor = in.backoff_factor;
  out.recovery_factor = in.recovery_factor;
  out.validate();
  return out;
}

exec::BatchOptions to_core(const ptl_batch_options* in) {
  require(in, "options");
  if (in->struct_size < sizeof(ptl_batch_options)) {
    core::fail(core::Status::kInvalid, "options struct_size is " + std::to_string(in->struct_size) +
                                           " (call ptl_batch_options_init first)");
  }
  exec::BatchOptions out;
  ptl_limiter_config limits = in->limits;
  if (in->adaptive != nullptr) {
    out.adaptive = to_core(*in->adaptive);
    limits.max_concurrent = out.adaptive->initial_concurrent;  // the adaptive start rules
  }
  out.limits = ptl::capi::to_core(&limits);
  if (in->shared != nullptr) out.shared = core::LimiterPtr(&ptl::capi::limiter_of(in->shared));
  out.max_attempts = in->max_attempts;
  out.retry_wait_ns = in->retry_wait_ns;
  out.failure_policy = static_cast<exec::FailurePolicy>(in->failure_policy);
  out.classify = {in->classify, in->classify_user};
  out.fallback = {in->fallback, in->fallback_user};
  if (in->parent != nullptr) out.parent = &run_of(in->parent);
  out.parent_index = in->parent_index;
  if (out.parent != nullptr && out.parent_index >= out.parent->size()) {
    core::fail(core::Status::kInvalid, "parent_index " + std::to_string(out.parent_index) +
                                           " is out of range for the parent batch");
  }
  out.validate();
  return out;
}

void report_to_c(const exec::BatchReport& in, ptl_batch_report* out) {
  if (out->struct_size < sizeof(ptl_batch_report)) {
    core::fail(core::Status::kInvalid, "report struct_size is " + std::to_string(out->struct_size) +
                                           ", less than sizeof(ptl_batch_report)");
  }
  out->concurrency = in.concurrency;
  out->peak_in_flight = in.peak_in_flight;
  out->items = in.items;
  out->succeeded = in.succeeded;
  out->failed = in.failed;
  out->canceled = in.canceled;
  out->pending = in.pending;
  out->attempts = in.attempts;
  out->retries = in.retries;
  out->rate_limited = in.rate_limited;
  out->fallbacks = in.fallbacks;
  out->backoffs = in.backoffs;
  out->recoveries = in.recoveries;
  out->elapsed_ns = in.elapsed_ns;
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
  const exec::AdaptiveConfig d;
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
    exec::BatchOptions options = to_core(opts);
    require(reinterpret_cast<const void*>(fn), "item function");
    if (report != nullptr && report->struct_size < sizeof(ptl_batch_report)) {
      report_to_c({}, report);  // throws, naming the problem, before anything runs
    }
    BlockingAdapter adapter{fn, user};
    const exec::BatchReport r =
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
    exec::BatchOptions options = to_core(opts);
    require(reinterpret_cast<const void*>(start), "start function");
    require(out, "out");
    auto adapter = std::make_shared<StartAdapter>(StartAdapter{start, done, user});
    options.keep_alive = adapter;
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
    const exec::BatchReport r = run.report(std::span<int>(statuses, statuses == nullptr ? 0 : n));
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
