// SPDX-License-Identifier: MIT
// ptl_flow_batch.hpp - the batch executors of ptl.h (ptl_batch_*) in C++: options, statistics,
// ptl::Batch (completion style, RAII) and the one exception-to-status rule every executor
// uses. Included by ptl_flow.hpp.
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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

// A batch's figures (ptl_batch_report). Every executor reads its figures with stats().
struct BatchStats {
  std::uint32_t concurrency = 0;     // the own limit now (adaptive: the current level)
  std::uint32_t peak_in_flight = 0;  // most attempts running at once
  std::uint64_t items = 0, succeeded = 0, failed = 0;
  // One count, two names: `canceled` is the C struct's spelling, kept for code written
  // before the C++ layer settled on one (both members of the union alias one uint64_t, a
  // layout GCC and Clang define).
  union {
    std::uint64_t cancelled = 0;
    [[deprecated("use cancelled")]] std::uint64_t canceled;
  };
  std::uint64_t pending = 0;
  std::uint64_t attempts = 0, retries = 0, rate_limited = 0, fallbacks = 0;
  std::uint64_t backoffs = 0, recoveries = 0;
  std::chrono::nanoseconds elapsed{0};

  static BatchStats from_c(const ptl_batch_report& r) noexcept {
    BatchStats s;
    s.concurrency = r.concurrency;
    s.peak_in_flight = r.peak_in_flight;
    s.items = r.items;
    s.succeeded = r.succeeded;
    s.failed = r.failed;
    s.cancelled = r.canceled;
    s.pending = r.pending;
    s.attempts = r.attempts;
    s.retries = r.retries;
    s.rate_limited = r.rate_limited;
    s.fallbacks = r.fallbacks;
    s.backoffs = r.backoffs;
    s.recoveries = r.recoveries;
    s.elapsed = std::chrono::nanoseconds(r.elapsed_ns);
    return s;
  }
};
using BatchReport [[deprecated("use BatchStats")]] = BatchStats;

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
  // Set (with `shared`): item `index`'s estimate, asked of the shared limiter by each of its
  // attempts ({{"tokens", prompt + max_tokens}}). It runs on the thread issuing the acquire;
  // if it throws, that attempt asks for the shared limiter's defaults.
  std::function<std::vector<Amount>(std::size_t index)> estimate;
};

namespace detail {

// BatchOptions::estimate behind ptl_estimate_fn. The units it hands out live in a buffer of
// the calling thread until that thread's next estimate: the library resolves them before
// the acquire that asked returns, and one thread issues one acquire at a time.
struct Estimator {
  std::function<std::vector<Amount>(std::size_t)> fn;

  static std::size_t call(void* user, std::size_t index, ptl_amount* out,
                          std::size_t cap) noexcept {
    thread_local std::vector<Amount> kept;
    try {
      kept = static_cast<Estimator*>(user)->fn(index);
    } catch (...) {
      return 0;
    }
    const std::size_t n = std::min(kept.size(), cap);
    for (std::size_t i = 0; i < n; ++i) out[i] = {kept[i].unit.c_str(), kept[i].amount};
    return n;
  }
};

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
    if (o.estimate) {
      estimator_ = std::make_shared<Estimator>(Estimator{o.estimate});
      opts_.estimate = &Estimator::call;
      opts_.estimate_user = estimator_.get();
    }
  }
  NativeOptions(const NativeOptions&) = delete;
  NativeOptions& operator=(const NativeOptions&) = delete;

  ptl_batch_options& get() noexcept { return opts_; }
  // Must outlive the run: a completion-style Batch keeps it with its callbacks.
  std::shared_ptr<Estimator> estimator() const { return estimator_; }

 private:
  ptl_batch_options opts_{};
  ptl_adaptive_config adaptive_{};
  std::shared_ptr<Estimator> estimator_;
};

// ptl_batch_settle of item `index`'s latest shared permit.
inline void settle_item(ptl_batch* batch, std::size_t index, Amounts actual) {
  std::vector<ptl_amount> c;
  c.reserve(actual.size());
  for (const Amount& a : actual) c.push_back({a.unit.c_str(), a.amount});
  check(ptl_batch_settle(batch, index, c.data(), c.size()));
}

// ptl_batch_observe_headers: any range of (name, value) pairs of string-likes.
template <class Headers>
int observe_item_headers(ptl_batch* batch, std::size_t index, const Headers& headers) {
  std::vector<std::string> text;
  for (const auto& [name, value] : headers) {
    text.emplace_back(std::string_view(name));
    text.emplace_back(std::string_view(value));
  }
  std::vector<const char*> names, values;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    names.push_back(text[i].c_str());
    values.push_back(text[i + 1].c_str());
  }
  const int rc = ptl_batch_observe_headers(batch, index, names.size(), names.data(), values.data());
  check(rc);
  return rc;
}

inline std::int64_t retry_after_ns(const std::optional<std::chrono::nanoseconds>& d) {
  return d ? clamp_ns(*d) : -1;
}

// How one attempt ended, as the library is told (ptl_batch_complete, or an item function's
// return value and Retry-After).
struct AttemptEnd {
  int status = PTL_OK;
  std::int64_t retry_after_ns = -1;  // -1: the upstream said nothing
  std::exception_ptr error;          // what the attempt threw; null on success
};

// The one mapping from a failed attempt's exception to a status, for every executor (threads
// and coroutines): ptl::RateLimitHit is PTL_ERATELIMITED with its Retry-After; another
// std::exception is PTL_ERATELIMITED if `is_rate_limit(e)` says so (a throwing predicate
// counts as no); anything else is kStatusExecFailed. Call it inside a catch handler.
template <class IsRateLimit>
AttemptEnd status_of_exception(const IsRateLimit& is_rate_limit) noexcept {
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

inline BatchStats stats_of(ptl_batch* batch) {
  ptl_batch_report r{};
  r.struct_size = sizeof r;
  check(ptl_batch_report_get(batch, &r, nullptr, 0));
  return BatchStats::from_c(r);
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
  // The real usage of item `index`'s latest attempt, settled on its shared permit
  // (ptl_batch_settle): while it runs or after it ended.
  void settle(std::size_t index, Amounts actual) const { detail::settle_item(h_, index, actual); }
  // The response headers of item `index`'s running attempt (ptl_batch_observe_headers):
  // observed on the shared limiter; a Retry-After is that item's rate-limit signal.
  template <class Headers>
  int observe_headers(std::size_t index, const Headers& headers) const {
    return detail::observe_item_headers(h_, index, headers);
  }
  int observe_headers(
      std::size_t index,
      std::initializer_list<std::pair<std::string_view, std::string_view>> headers) const {
    return detail::observe_item_headers(h_, index, headers);
  }
  BatchStats stats() const { return detail::stats_of(h_); }
  [[deprecated("use stats")]] BatchStats report() const { return stats(); }
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
    auto* holder = new std::shared_ptr<Callbacks>(std::make_shared<Callbacks>(
        Callbacks{std::move(start), std::move(done), native.estimator()}));
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
  BatchStats stats() const { return detail::stats_of(h_); }
  [[deprecated("use stats")]] BatchStats report() const { return stats(); }
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
    std::shared_ptr<detail::Estimator> estimator;  // called until the last item settles
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

}  // namespace ptl
