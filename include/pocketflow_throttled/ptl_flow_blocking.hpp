// SPDX-License-Identifier: MIT
// ptl_flow_blocking.hpp - the blocking batch runner the thread-based throttled nodes and
// flows share: ptl_batch_run over their per-item work, with each item's exception kept for
// the caller. Included by ptl_flow_throttled.hpp.
#pragma once

#include <pocketflow_throttled/ptl_flow_batch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

namespace ptl {

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
    std::rethrow_exception(std::move(last));
  }

 protected:
  ~BatchWork() = default;
};

// The outcome of a blocking batch: each item's final status and, for failures, the exception.
struct BatchOutcome {
  int rc = PTL_OK;  // PTL_OK or PTL_EITEMS
  std::vector<int> statuses;
  std::vector<std::exception_ptr> errors;  // null for items that succeeded or never ran
  BatchStats stats;

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
    out.stats = BatchStats::from_c(r);
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
    } catch (...) {
      AttemptEnd end = status_of_exception(
          [self](const std::exception& e) { return self->work_.is_rate_limit_error(e); });
      error = std::move(end.error);
      *retry_after_ns = end.retry_after_ns;
      return end.status;
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
