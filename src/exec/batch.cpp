#include "exec/batch.hpp"

#include <algorithm>

#include "core/local_limiter.hpp"
#include "core/status.hpp"
#include "log/log.hpp"

namespace ptl::exec {

using core::Nanos;
using core::Status;

namespace {
constexpr int kOk = 0;
constexpr int kCanceled = static_cast<int>(Status::kCanceled);
constexpr int kHttpTooManyRequests = 429;
}  // namespace

bool ClassifyHook::is_rate_limit(int status) const {
  if (fn != nullptr) return fn(user, status) != 0;
  return status == static_cast<int>(Status::kRateLimited) || status == kHttpTooManyRequests;
}

void BatchOptions::validate() const {
  if (adaptive) adaptive->validate();
  limits.validate();
  if (max_attempts < 1) core::fail(Status::kInvalid, "max_attempts must be >= 1");
  if (retry_wait_ns < 0) core::fail(Status::kInvalid, "retry_wait_ns must be >= 0");
  if (failure_policy != FailurePolicy::kCollect && failure_policy != FailurePolicy::kFailFast) {
    core::fail(Status::kInvalid, "failure_policy must be PTL_BATCH_COLLECT or PTL_BATCH_FAIL_FAST");
  }
}

BatchRun* BatchRun::start(BatchOptions options, size_t n, ItemStarter starter, DoneHook done) {
  if (options.adaptive) options.limits.max_concurrent = options.adaptive->initial_concurrent;
  options.validate();
  if (starter.fn == nullptr) core::fail(Status::kInvalid, "item start function is NULL");
  auto* run = new BatchRun(std::move(options), n, starter, done);
  if (n == 0) {
    {
      std::lock_guard<std::mutex> lock(run->mutex_);
      run->finished_at_ = core::monotonic_now();
    }
    run->finish();
  } else {
    run->pump();
  }
  return run;
}

BatchRun::BatchRun(BatchOptions options, size_t n, ItemStarter starter, DoneHook done)
    : options_(std::move(options)),
      own_(new core::LocalLimiter(options_.limits), /*add_ref=*/false),
      adaptive_(options_.adaptive ? std::make_unique<AdaptiveController>(*options_.adaptive, own_)
                                  : nullptr),
      starter_(starter),
      done_hook_(done),
      started_at_(core::monotonic_now()),
      items_(n) {
  for (size_t i = 0; i < n; ++i) {
    items_[i].run = this;
    items_[i].index = i;
  }
  counts_.items = n;
}

void BatchRun::drop_ref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void BatchRun::release() {
  cancel();
  drop_ref();
}

// ---- moving items forward -------------------------------------------------------------

bool BatchRun::next_queued_locked(size_t* index) {
  if (!retry_.empty()) {
    *index = retry_.front();
    retry_.pop_front();
    return true;
  }
  if (next_fresh_ < items_.size()) {
    *index = next_fresh_++;
    return true;
  }
  return false;
}

void BatchRun::pump() {
  Ref keep(this);
  std::unique_lock<std::mutex> lock(mutex_);
  if (pumping_) return;  // the pumping thread re-reads the state before it stops
  pumping_ = true;
  for (;;) {
    if (!ready_.empty()) {
      Item& item = items_[ready_.front()];
      ready_.pop_front();
      if (canceled_) {
        const Held held{item.own, item.shared};
        item.own = item.shared = 0;
        const int effects = settle_locked(item, kCanceled);
        lock.unlock();
        give_back(held);
        after_settle(effects);
        lock.lock();
        continue;
      }
      item.phase = Phase::kRunning;
      counts_.peak_in_flight = std::max(counts_.peak_in_flight, ++running_);
      ++counts_.attempts;
      const size_t index = item.index;
      const uint32_t attempt = item.attempt;
      lock.unlock();
      starter_.fn(starter_.user, this, index, attempt);
      lock.lock();
      continue;
    }
    if (!need_shared_.empty()) {
      Item& item = items_[need_shared_.front()];
      need_shared_.pop_front();
      if (canceled_) {
        const Held held{item.own, 0};
        item.own = 0;
        const int effects = settle_locked(item, kCanceled);
        lock.unlock();
        give_back(held);
        after_settle(effects);
        lock.lock();
        continue;
      }
      const uint32_t attempt = item.attempt;
      lock.unlock();
      uint64_t ticket = 0;
      options_.shared->acquire_async(1, -1, {&on_shared_granted, &item}, &ticket);
      lock.lock();
      // The grant may have come already (even inline); then the ticket is stale.
      if (item.phase == Phase::kAcquiringShared && item.attempt == attempt) {
        item.ticket = ticket;
        if (canceled_) {  // cancel() ran while the ticket was unknown to it
          lock.unlock();
          options_.shared->cancel(ticket);
          lock.lock();
        }
      }
      continue;
    }
    size_t index = 0;
    if (!own_outstanding_ && !canceled_ && next_queued_locked(&index)) {
      Item& item = items_[index];
      item.phase = Phase::kAcquiringOwn;
      item.ticket = 0;
      const uint32_t attempt = ++item.attempt;
      own_outstanding_ = true;
      lock.unlock();
      uint64_t ticket = 0;
      own_->acquire_async(1, -1, {&on_own_granted, &item}, &ticket);
      lock.lock();
      if (item.phase == Phase::kAcquiringOwn && item.attempt == attempt) {
        item.ticket = ticket;
        if (canceled_) {
          lock.unlock();
          own_->cancel(ticket);
          lock.lock();
        }
      }
      continue;
    }
    break;
  }
  pumping_ = false;
}

void BatchRun::on_own_granted(void* user, int status, core::Permit permit) {
  Item& item = *static_cast<Item*>(user);
  BatchRun* self = item.run;
  Ref keep(self);
  std::unique_lock<std::mutex> lock(self->mutex_);
  self->own_outstanding_ = false;
  item.ticket = 0;
  if (status != kOk || self->canceled_) {
    const Held held{status == kOk ? permit : 0, 0};
    const int effects = self->settle_locked(item, status == kOk ? kCanceled : status);
    lock.unlock();
    self->give_back(held);
    self->after_settle(effects);
    self->pump();
    return;
  }
  item.own = permit;
  if (self->adaptive_) item.grant_epoch = self->adaptive_->epoch();
  if (self->options_.shared) {
    item.phase = Phase::kAcquiringShared;
    self->need_shared_.push_back(item.index);
  } else {
    item.phase = Phase::kReady;
    self->ready_.push_back(item.index);
  }
  lock.unlock();
  self->pump();
}

void BatchRun::on_shared_granted(void* user, int status, core::Permit permit) {
  Item& item = *static_cast<Item*>(user);
  BatchRun* self = item.run;
  Ref keep(self);
  std::unique_lock<std::mutex> lock(self->mutex_);
  item.ticket = 0;
  if (status != kOk || self->canceled_) {
    const Held held{item.own, status == kOk ? permit : 0};
    item.own = 0;
    const int effects = self->settle_locked(item, status == kOk ? kCanceled : status);
    lock.unlock();
    self->give_back(held);
    self->after_settle(effects);
    self->pump();
    return;
  }
  item.shared = permit;
  item.phase = Phase::kReady;
  self->ready_.push_back(item.index);
  lock.unlock();
  self->pump();
}

void BatchRun::give_back(const Held& held) {
  // Shared first: it is the scarcer quota, and others wait on it.
  if (held.shared != 0) options_.shared->release(held.shared, std::nullopt);
  if (held.own != 0) own_->release(held.own, std::nullopt);
}

}  // namespace ptl::exec
