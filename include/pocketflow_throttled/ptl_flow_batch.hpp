// ptl_flow_batch.hpp - the batch executors of ptl.h (ptl_batch_*) in C++: options, reports,
// ptl::Batch (completion style, RAII) and the blocking runner the throttled nodes and flows
// use. Included by ptl_flow.hpp.
//
//   ptl::Batch batch({.limits = {.max_concurrent = 4}}, urls.size(),
//                    [&](ptl::BatchView b, std::size_t i, std::uint32_t) {
//                      fetch_async(urls[i], [b, i](int status) { b.complete(i, status); });
//                    });
//   batch.wait();
//
// No exception ever unwinds into the library: every trampoline here catches everything.
#pragma once

#include <pocketflow_throttled/ptl_flow_graph.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace ptl {

// The status an attempt gets when its work threw something that is not a rate-limit error
// (a failure of the user's code, not of the library; positive, so never a PTL_E* code).
inline constexpr int kStatusExecFailed = 1;

// What a batch does when an item fails for good.
enum class FailurePolicy : std::uint32_t {
  collect = PTL_BATCH_COLLECT,     // record it; the other items run on
  fail_fast = PTL_BATCH_FAIL_FAST  // items not started yet are cancelled
};

// The adaptive controller's settings (ptl_adaptive_config); defaults are the original's.
struct AdaptiveConfig {
  std::uint32_t initial_concurrent = 5;
  std::uint32_t min_concurrent = 1;
  std::uint32_t max_concurrent = 20;
  std::uint32_t recovery_threshold = 10;  // consecutive successes before growing
  double backoff_factor = 0.5;            // on a rate-limit signal, in (0, 1)
  double recovery_factor = 1.2;           // on recovery, >= 1 (growth is at least +1)

  ptl_adaptive_config to_c() const noexcept {
    ptl_adaptive_config c;
    ptl_adaptive_config_init(&c);
    c.initial_concurrent = initial_concurrent;
    c.min_concurrent = min_concurrent;
    c.max_concurrent = max_concurrent;
    c.recovery_threshold = recovery_threshold;
    c.backoff_factor = backoff_factor;
    c.recovery_factor = recovery_factor;
    return c;
  }
};

// A batch's figures (ptl_batch_report).
struct BatchReport {
  std::uint32_t concurrency = 0;     // the own limit now (adaptive: the current level)
  std::uint32_t peak_in_flight = 0;  // most attempts running at once
  std::uint64_t items = 0, succeeded = 0, failed = 0, canceled = 0, pending = 0;
  std::uint64_t attempts = 0, retries = 0, rate_limited = 0, fallbacks = 0;
  std::uint64_t backoffs = 0, recoveries = 0;
  std::chrono::nanoseconds elapsed{0};

  static BatchReport from_c(const ptl_batch_report& r) noexcept {
    return {r.concurrency, r.peak_in_flight,
            r.items,       r.succeeded,
            r.failed,      r.canceled,
            r.pending,     r.attempts,
            r.retries,     r.rate_limited,
            r.fallbacks,   r.backoffs,
            r.recoveries,  std::chrono::nanoseconds(r.elapsed_ns)};
  }
};

// The options of one batch (ptl_batch_options) without the callbacks, which the classes
// using them supply.
struct BatchOptions {
  FailurePolicy failure_policy = FailurePolicy::collect;
  LimiterConfig limits{};                  // the batch's own limiter
  std::optional<AdaptiveConfig> adaptive;  // set: it drives limits.max_concurrent
  Limiter shared;                          // empty, or a limiter each attempt also holds
  std::uint32_t max_attempts = 1;          // per item (PocketFlow's max_retries)
  std::uint32_t worker_threads = 0;        // blocking style: 0 = the concurrency ceiling
  std::chrono::nanoseconds retry_wait{0};
  RunContext parent;  // the batch item this batch is part of: its rate-limit signals go there
};

namespace detail {

// ptl_batch_options built from BatchOptions; it points into itself, so it stays in place.
class NativeOptions {
 public:
  explicit NativeOptions(const BatchOptions& o) {
    ptl_batch_options_init(&opts_);
    opts_.failure_policy = static_cast<std::uint32_t>(o.failure_policy);
    opts_.limits = o.limits;
    if (o.adaptive) {
      adaptive_ = o.adaptive->to_c();
      opts_.adaptive = &adaptive_;
    }
    opts_.shared = o.shared.native_handle();
    opts_.max_attempts = o.max_attempts;
    opts_.worker_threads = o.worker_threads;
    opts_.retry_wait_ns = clamp_ns(o.retry_wait);
    opts_.parent = o.parent.batch;
    opts_.parent_index = o.parent.index;
  }
  NativeOptions(const NativeOptions&) = delete;
  NativeOptions& operator=(const NativeOptions&) = delete;

  ptl_batch_options& get() noexcept { return opts_; }

 private:
  ptl_batch_options opts_{};
  ptl_adaptive_config adaptive_{};
};

inline std::int64_t retry_after_ns(const std::optional<std::chrono::nanoseconds>& d) {
  return d ? clamp_ns(*d) : -1;
}

inline BatchReport report_of(ptl_batch* batch) {
  ptl_batch_report r{};
  r.struct_size = sizeof r;
  check(ptl_batch_report_get(batch, &r, nullptr, 0));
  return BatchReport::from_c(r);
}

}  // namespace detail

// A non-owning view of a running batch, handed to start callbacks: it stays valid for the
// attempts it started until they are completed, even after the Batch is destroyed.
class BatchView {
 public:
  explicit BatchView(ptl_batch* batch) noexcept : h_(batch) {}

  // Reports the end of item `index`'s running attempt: PTL_OK, or a failure status
  // (PTL_ERATELIMITED, with the upstream's Retry-After when it sent one).
  void complete(std::size_t index, int status,
                std::optional<std::chrono::nanoseconds> retry_after = std::nullopt) const {
    detail::check(ptl_batch_complete(h_, index, status, detail::retry_after_ns(retry_after)));
  }
  // A rate-limit signal from inside running item `index` that does not end it.
  void signal(std::size_t index,
              std::optional<std::chrono::nanoseconds> retry_after = std::nullopt) const {
    detail::check(ptl_batch_signal(h_, index, detail::retry_after_ns(retry_after)));
  }
  BatchReport report() const { return detail::report_of(h_); }
  ptl_batch* native_handle() const noexcept { return h_; }

 private:
  ptl_batch* h_;
};

// One completion-style batch (ptl_batch_start): `start` is called once per attempt as it is
// granted, on the granting thread, and must return at once; the attempt's end is reported
// with complete(), from any thread. `done` runs once, when the last item settles. If
// `start` throws, that attempt completes with kStatusExecFailed.
// Destroying the Batch cancels the items not started (ptl_batch_free); attempts running
// then must still be completed, and their callbacks stay alive until `done` has run.
class Batch {
 public:
  using StartFn = std::function<void(BatchView batch, std::size_t index, std::uint32_t attempt)>;
  using DoneFn = std::function<void()>;

  Batch(const BatchOptions& options, std::size_t n, StartFn start, DoneFn done = {}) : n_(n) {
    detail::NativeOptions native(options);
    // The callbacks outlive this object when it goes first; the library's reference is
    // dropped by on_done, which is the last callback.
    auto* holder = new std::shared_ptr<Callbacks>(
        std::make_shared<Callbacks>(Callbacks{std::move(start), std::move(done)}));
    const int rc =
        ptl_batch_start(&native.get(), n, &Batch::on_start, &Batch::on_done, holder, &h_);
    if (rc != PTL_OK) {
      delete holder;  // neither callback ever runs after a refused start
      detail::throw_last(rc);
    }
  }
  Batch(Batch&& o) noexcept : h_(std::exchange(o.h_, nullptr)), n_(o.n_) {}
  Batch& operator=(Batch&& o) noexcept {
    if (this != &o) {
      ptl_batch_free(std::exchange(h_, std::exchange(o.h_, nullptr)));
      n_ = o.n_;
    }
    return *this;
  }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  ~Batch() { ptl_batch_free(h_); }

  BatchView view() const noexcept { return BatchView(h_); }
  void complete(std::size_t index, int status,
                std::optional<std::chrono::nanoseconds> retry_after = std::nullopt) const {
    view().complete(index, status, retry_after);
  }
  // Waits until every item settled.
  void wait() const { detail::check(ptl_batch_wait(h_, -1)); }
  // Waits up to `timeout`; false if items are still unsettled then.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    const int rc = ptl_batch_wait(h_, detail::clamp_ns(timeout));
    if (rc == PTL_ETIMEDOUT) return false;
    detail::check(rc);
    return true;
  }
  // Items not started settle with PTL_ECANCELED; running attempts go on, without retries.
  void cancel() const { detail::check(ptl_batch_cancel(h_)); }
  BatchReport report() const { return detail::report_of(h_); }
  // Each item's final status (PTL_EAGAIN while unsettled).
  std::vector<int> statuses() const {
    std::vector<int> out(n_);
    detail::check(ptl_batch_report_get(h_, nullptr, out.data(), n_));
    return out;
  }
  std::size_t size() const noexcept { return n_; }
  ptl_batch* native_handle() const noexcept { return h_; }

 private:
  struct Callbacks {
    StartFn start;
    DoneFn done;
  };

  static void on_start(void* user, ptl_batch* batch, std::size_t index,
                       std::uint32_t attempt) noexcept {
    // Holds the callbacks for the call: the attempt may be completed, and the batch end,
    // on another thread before `start` returns.
    const std::shared_ptr<Callbacks> cb = *static_cast<std::shared_ptr<Callbacks>*>(user);
    try {
      cb->start(BatchView(batch), index, attempt);
    } catch (...) {
      ptl_batch_complete(batch, index, kStatusExecFailed, -1);
    }
  }
  static void on_done(void* user, ptl_batch* /*batch*/) noexcept {
    const std::unique_ptr<std::shared_ptr<Callbacks>> holder(
        static_cast<std::shared_ptr<Callbacks>*>(user));
    try {
      if ((*holder)->done) (*holder)->done();
    } catch (...) {  // nowhere to report it; the batch is over anyway
    }
  }

  ptl_batch* h_ = nullptr;
  std::size_t n_ = 0;
};

namespace detail {

// One item's work in a blocking batch; each method may throw.
class BatchWork {
 public:
  // One attempt of item `index` inside `batch` (its RunContext for nested batches).
  virtual void attempt(ptl_batch* batch, std::size_t index) = 0;
  // Whether a failure that is not a ptl::RateLimitHit is still a rate-limit signal.
  virtual bool is_rate_limit_error(const std::exception& error) const = 0;
  // Whether fallback() is to run after an item's last failed attempt.
  virtual bool has_fallback() const { return false; }
  // After the last failed attempt: produce the item's result, or throw.
  virtual void fallback(std::size_t /*index*/, std::exception_ptr last) {
    std::rethrow_exception(last);
  }

 protected:
  ~BatchWork() = default;
};

// The outcome of a blocking batch: each item's final status and, for failures, the exception.
struct BatchOutcome {
  int rc = PTL_OK;  // PTL_OK or PTL_EITEMS
  std::vector<int> statuses;
  std::vector<std::exception_ptr> errors;  // null for items that succeeded or never ran
  BatchReport report;

  // The failure of the lowest index that ran (cancelled items have none), or null.
  std::exception_ptr first_error() const {
    for (const std::exception_ptr& e : errors)
      if (e) return e;
    return nullptr;
  }
};

// ptl_batch_run over a BatchWork: exceptions become statuses at the C boundary and are kept
// per index. `live_concurrency`, when given, follows the batch's level as attempts start.
class BlockingBatch {
 public:
  BlockingBatch(BatchWork& work, std::size_t n, std::atomic<std::uint32_t>* live_concurrency)
      : work_(work), errors_(n), live_(live_concurrency) {}

  BatchOutcome run(ptl_batch_options& opts) {
    if (work_.has_fallback()) {
      opts.fallback = &BlockingBatch::on_fallback;
      opts.fallback_user = this;
    }
    BatchOutcome out;
    out.statuses.assign(errors_.size(), PTL_EAGAIN);
    ptl_batch_report r{};
    r.struct_size = sizeof r;
    out.rc = ptl_batch_run(&opts, errors_.size(), &BlockingBatch::on_item, this,
                           out.statuses.data(), &r);
    if (out.rc != PTL_OK && out.rc != PTL_EITEMS) throw_last(out.rc);
    out.report = BatchReport::from_c(r);
    out.errors = std::move(errors_);  // null for successes (and rescues) and cancellations
    return out;
  }

 private:
  static int on_item(void* user, ptl_batch* batch, std::size_t index, std::uint32_t /*attempt*/,
                     std::int64_t* retry_after_ns) noexcept {
    auto* self = static_cast<BlockingBatch*>(user);
    if (self->live_ != nullptr) {
      ptl_batch_report r{};
      r.struct_size = sizeof r;
      if (ptl_batch_report_get(batch, &r, nullptr, 0) == PTL_OK)
        self->live_->store(r.concurrency, std::memory_order_relaxed);
    }
    // One attempt of an item runs at a time, so its slot has one writer.
    std::exception_ptr& error = self->errors_[index];
    try {
      self->work_.attempt(batch, index);
      error = nullptr;
      return PTL_OK;
    } catch (const RateLimitHit& e) {
      error = std::current_exception();
      if (e.retry_after()) *retry_after_ns = clamp_ns(*e.retry_after());
      return PTL_ERATELIMITED;
    } catch (const std::exception& e) {
      error = std::current_exception();
      return self->classify(e);
    } catch (...) {
      error = std::current_exception();
      return kStatusExecFailed;
    }
  }

  int classify(const std::exception& e) const noexcept {
    try {
      return work_.is_rate_limit_error(e) ? PTL_ERATELIMITED : kStatusExecFailed;
    } catch (...) {
      return kStatusExecFailed;
    }
  }

  static int on_fallback(void* user, std::size_t index, int last_status) noexcept {
    auto* self = static_cast<BlockingBatch*>(user);
    std::exception_ptr& error = self->errors_[index];
    try {
      self->work_.fallback(index, error);
      error = nullptr;
      return PTL_OK;
    } catch (...) {
      error = std::current_exception();
      return last_status;
    }
  }

  BatchWork& work_;
  std::vector<std::exception_ptr> errors_;
  std::atomic<std::uint32_t>* live_;
};

}  // namespace detail

}  // namespace ptl
