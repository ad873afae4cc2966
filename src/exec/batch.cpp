// SPDX-License-Identifier: MIT
#include "exec/batch.hpp"

#include <algorithm>

#include "core/local_limiter.hpp"
#include "core/status.hpp"
#include "core/thread_annotations.hpp"
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

void RunOptions::prepare() {
  if (adaptive) {
    adaptive->validate();  // first: its initial_concurrent becomes the own limit
    limits.max_concurrent = adaptive->initial_concurrent;
  }
  limits.validate();
  if (max_attempts < 1) core::fail(Status::kInvalid, "max_attempts must be >= 1");
  if (retry_wait_ns < 0) core::fail(Status::kInvalid, "retry_wait_ns must be >= 0");
  if (failure_policy != OnFailure::kCollect && failure_policy != OnFailure::kFailFast) {
    core::fail(Status::kInvalid, "failure_policy must be PTL_BATCH_COLLECT or PTL_BATCH_FAIL_FAST");
  }
}

BatchRun* BatchRun::start(RunOptions options, size_t n, ItemStarter starter, DoneHook done) {
  if (starter.fn == nullptr) core::fail(Status::kInvalid, "item start function is NULL");
  auto* run = new BatchRun(std::move(options), n, starter, done);
  if (n == 0) {
    {
      core::MutexLock lock(run->mutex_);
      run->finished_at_ = core::monotonic_now();
    }
    run->finish();
  } else {
    run->pump();
  }
  return run;
}

BatchRun::BatchRun(RunOptions options, size_t n, ItemStarter starter, DoneHook done)
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
  core::UniqueLock lock(mutex_);
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
      acquire_shared(item, &ticket);
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
    if (own_outstanding_ || canceled_) break;
    if (own_without_wait_locked()) continue;
    size_t index = 0;
    if (own_full_at_ == UINT64_MAX && next_queued_locked(&index)) {
      Item& item = items_[index];
      item.phase = Phase::kAcquiringOwn;
      item.ticket = 0;
      const uint32_t attempt = ++item.attempt;
      own_outstanding_ = true;
      lock.unlock();
      uint64_t ticket = 0;
      own_->acquire_async(core::Demand{}, -1, {&on_own_granted, &item}, &ticket);
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

bool BatchRun::own_without_wait_locked() {
  // An adaptive run's controller raises the limit without any permit coming back.
  if (adaptive_) return false;
  const uint64_t returns = own_returns_.load(std::memory_order_acquire);
  if (own_full_at_ != UINT64_MAX) {
    if (own_full_at_ == returns) return false;  // still full: the next return pumps again
    own_full_at_ = UINT64_MAX;
  }
  size_t index = 0;
  if (!next_queued_locked(&index)) return false;
  core::PermitId permit = 0;
  core::Nanos retry_after_ns = -1;
  // Under mutex_: the own limiter is a LocalLimiter, which never calls back into the run
  // from try_acquire, so the lock order is always run, then limiter.
  const Status st = own_->try_acquire(core::Demand{}, &permit, &retry_after_ns);
  Item& item = items_[index];
  if (st != Status::kOk) {
    // Back to the head of the queue it came from; it asks again when a permit returns
    // (full by concurrency) or with a waiting acquire (a window, a penalty: time frees it).
    if (index + 1 == next_fresh_ && item.attempt == 0) {
      --next_fresh_;
    } else {
      retry_.push_front(index);
    }
    if (st == Status::kAgain && retry_after_ns < 0) own_full_at_ = returns;
    return false;
  }
  ++item.attempt;
  item.ticket = 0;
  own_granted_locked(item, permit);
  return true;
}

void BatchRun::own_granted_locked(Item& item, core::PermitId permit) {
  item.own = permit;
  if (adaptive_) item.grant_epoch = adaptive_->epoch();
  if (options_.shared) {
    item.phase = Phase::kAcquiringShared;
    need_shared_.push_back(item.index);
  } else {
    item.phase = Phase::kReady;
    ready_.push_back(item.index);
  }
}

void BatchRun::acquire_shared(Item& item, uint64_t* ticket) {
  RawAmount raw[core::kMaxLimits];
  size_t n = 0;
  if (options_.estimate.fn != nullptr) {
    n = std::min(options_.estimate.fn(options_.estimate.user, item.index, raw, core::kMaxLimits),
                 core::kMaxLimits);
  }
  core::UnitAmount amounts[core::kMaxLimits];
  for (size_t i = 0; i < n; ++i) {
    amounts[i] = {raw[i].unit == nullptr ? std::string_view() : std::string_view(raw[i].unit),
                  raw[i].amount};
  }
  try {
    options_.shared->acquire_async(core::Demand{amounts, n}, -1, {&on_shared_granted, &item},
                                   ticket);
  } catch (const core::StatusError& e) {
    // An estimate the shared policy refuses (a unit it lacks, more than a limit's max)
    // fails this attempt like a grant that failed: the callback did not run.
    log::logger().warn("item {}: shared acquire refused: {}", item.index, e.what());
    on_shared_granted(&item, static_cast<int>(e.status()), 0);
  }
}

void BatchRun::on_own_granted(void* user, int status, core::PermitId permit) {
  Item& item = *static_cast<Item*>(user);
  BatchRun* self = item.run;
  Ref keep(self);
  core::UniqueLock lock(self->mutex_);
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
  self->own_granted_locked(item, permit);
  lock.unlock();
  self->pump();
}

void BatchRun::on_shared_granted(void* user, int status, core::PermitId permit) {
  Item& item = *static_cast<Item*>(user);
  BatchRun* self = item.run;
  Ref keep(self);
  core::UniqueLock lock(self->mutex_);
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
  item.last_shared = permit;
  item.phase = Phase::kReady;
  self->ready_.push_back(item.index);
  lock.unlock();
  self->pump();
}

void BatchRun::give_back(const Held& held) {
  // Shared first: it is the scarcer quota, and others wait on it.
  if (held.shared != 0) options_.shared->release(held.shared, std::nullopt);
  if (held.own != 0) {
    own_->release(held.own, std::nullopt);
    own_returns_.fetch_add(1, std::memory_order_release);  // every caller pumps next
  }
}

}  // namespace ptl::exec
