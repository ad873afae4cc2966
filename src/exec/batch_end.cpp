// SPDX-License-Identifier: MIT
// The second half of BatchRun: how an attempt ends (retry, fallback, settle), rate-limit
// signals, cancelling, waiting and the report.
#include <algorithm>

#include "core/status.hpp"
#include "core/thread_annotations.hpp"
#include "core/timer_service.hpp"
#include "exec/batch.hpp"
#include "log/log.hpp"

namespace ptl::exec {

using core::Nanos;
using core::Status;

namespace {
constexpr int kOk = 0;
constexpr int kCanceled = static_cast<int>(Status::kCanceled);
}  // namespace

// ---- the end of an attempt --------------------------------------------------------------

void BatchRun::complete(size_t index, int status, Nanos retry_after_ns) {
  Ref keep(this);
  if (index >= items_.size()) {
    core::fail(Status::kInvalid, "item index " + std::to_string(index) + " is out of range (" +
                                     std::to_string(items_.size()) + " items)");
  }
  Item& item = items_[index];
  Held held;
  {
    core::MutexLock lock(mutex_);
    if (item.phase != Phase::kRunning) {
      core::fail(Status::kInvalid, "item " + std::to_string(index) + " has no attempt running");
    }
    item.phase = Phase::kEnding;
    --running_;
    held = {item.own, item.shared};
    item.own = item.shared = 0;
  }
  // Before the permits go back: a backoff must be in force before the freed permit can
  // be granted again, and a retry must be queued before the next fresh item asks.
  if (status != kOk && options_.classify.is_rate_limit(status)) {
    rate_limit_signal(item.grant_epoch, retry_after_ns);
  } else if (status == kOk && adaptive_) {
    adaptive_->on_success();
  }
  switch (decide_next(item, status)) {
    case Next::kRetryNow:
      give_back(held);
      break;
    case Next::kRetryLater:
      give_back(held);
      add_ref();  // the timer's
      core::TimerService::instance().schedule(
          core::deadline_after(core::monotonic_now(), options_.retry_wait_ns), [this, index] {
            requeue(index);
            drop_ref();
          });
      break;
    case Next::kSettle: {
      // The fallback runs holding the permits, as PocketFlow's exec_fallback runs
      // inside the original's limiter; a fail-fast trip cancels the rest before the
      // permits can go to the next item.
      const int final_status = run_fallback(item, status);
      if (final_status != kOk && final_status != kCanceled &&
          options_.failure_policy == OnFailure::kFailFast) {
        cancel();
      }
      give_back(held);  // before settling: when wait() returns, every permit is back
      int effects;
      {
        core::MutexLock lock(mutex_);
        effects = settle_locked(item, final_status);
      }
      after_settle(effects);
      break;
    }
  }
  pump();
}

BatchRun::Next BatchRun::decide_next(Item& item, int status) {
  if (status == kOk) return Next::kSettle;
  core::MutexLock lock(mutex_);
  if (item.attempt >= options_.max_attempts || canceled_) return Next::kSettle;
  ++counts_.retries;
  if (options_.retry_wait_ns > 0) {
    item.phase = Phase::kRetryWait;
    return Next::kRetryLater;
  }
  item.phase = Phase::kQueued;
  retry_.push_back(item.index);
  return Next::kRetryNow;
}

int BatchRun::run_fallback(Item& item, int status) {
  if (status == kOk || options_.fallback.fn == nullptr) return status;
  {
    core::MutexLock lock(mutex_);
    if (canceled_) return status;
  }
  const int final_status = options_.fallback.fn(options_.fallback.user, item.index, status);
  if (final_status == kOk) {
    core::MutexLock lock(mutex_);
    ++counts_.fallbacks;
  }
  return final_status;
}

void BatchRun::requeue(size_t index) {
  int effects = kNothing;
  {
    core::MutexLock lock(mutex_);
    Item& item = items_[index];
    if (canceled_) {
      effects = settle_locked(item, kCanceled);
    } else {
      item.phase = Phase::kQueued;
      retry_.push_back(index);
    }
  }
  after_settle(effects);
  pump();
}

void BatchRun::signal(size_t index, Nanos retry_after_ns) {
  Ref keep(this);
  if (index >= items_.size()) {
    core::fail(Status::kInvalid, "item index " + std::to_string(index) + " is out of range");
  }
  uint64_t epoch;
  {
    core::MutexLock lock(mutex_);
    const Item& item = items_[index];
    if (item.phase != Phase::kRunning) {
      core::fail(Status::kInvalid, "item " + std::to_string(index) + " has no attempt running");
    }
    epoch = item.grant_epoch;
  }
  rate_limit_signal(epoch, retry_after_ns);
}

void BatchRun::settle(size_t index, const core::Demand& actual) {
  if (index >= items_.size()) {
    core::fail(Status::kInvalid, "item index " + std::to_string(index) + " is out of range");
  }
  core::PermitId permit;
  {
    core::MutexLock lock(mutex_);
    permit = items_[index].last_shared;
  }
  if (permit == 0) {
    core::fail(Status::kInvalid, "item " + std::to_string(index) +
                                     " never held a shared permit (no shared limiter, or not "
                                     "granted yet)");
  }
  options_.shared->settle(permit, actual);
}

void BatchRun::rate_limit_signal(uint64_t grant_epoch, Nanos retry_after_ns) {
  {
    core::MutexLock lock(mutex_);
    ++counts_.rate_limited;
  }
  if (adaptive_) adaptive_->on_rate_limit(grant_epoch);
  // The shared limiter is the upstream's quota: its pause holds back every sharer.
  if (retry_after_ns > 0) (options_.shared ? options_.shared : own_)->penalize(retry_after_ns);
  if (options_.parent != nullptr) {
    try {
      options_.parent->signal(options_.parent_index, retry_after_ns);
    } catch (const core::StatusError& e) {
      log::logger().warn("rate-limit signal not passed to the parent batch: {}", e.what());
    }
  }
}

// ---- settling and cancelling --------------------------------------------------------------

int BatchRun::settle_locked(Item& item, int status) {
  item.phase = Phase::kSettled;
  item.status = status;
  int effects = kNothing;
  if (status == kOk) {
    ++counts_.succeeded;
  } else if (status == kCanceled) {
    ++counts_.canceled;
  } else {
    ++counts_.failed;
    if (options_.failure_policy == OnFailure::kFailFast && !canceled_) effects |= kTripped;
  }
  if (++settled_ == items_.size()) {
    finished_at_ = core::monotonic_now();
    effects |= kLastSettled;
  }
  return effects;
}

void BatchRun::after_settle(int effects) {
  if ((effects & kTripped) != 0) cancel();
  if ((effects & kLastSettled) != 0) finish();
}

void BatchRun::cancel() {
  Ref keep(this);
  std::vector<Held> held;
  std::vector<uint64_t> own_tickets, shared_tickets;
  int effects = kNothing;
  {
    core::MutexLock lock(mutex_);
    if (canceled_) return;
    canceled_ = true;
    size_t index = 0;
    while (next_queued_locked(&index)) effects |= settle_locked(items_[index], kCanceled);
    for (Item& item : items_) {
      if (item.phase == Phase::kReady) {
        held.push_back({item.own, item.shared});
        item.own = item.shared = 0;
        effects |= settle_locked(item, kCanceled);
      } else if (item.phase == Phase::kAcquiringOwn && item.ticket != 0) {
        own_tickets.push_back(item.ticket);
      } else if (item.phase == Phase::kAcquiringShared && item.ticket != 0) {
        shared_tickets.push_back(item.ticket);
      }
      // kAcquiringShared without a ticket sits in need_shared_ (pump settles it) or
      // its acquire is being issued (pump cancels it once the ticket is known).
    }
    ready_.clear();
  }
  for (const Held& h : held) give_back(h);
  // A ticket that was granted meanwhile is kNotFound here; its callback sees canceled_.
  for (uint64_t t : own_tickets) own_->cancel(t);
  for (uint64_t t : shared_tickets) options_.shared->cancel(t);
  after_settle(effects);
  pump();  // settles what waits in need_shared_
}

void BatchRun::finish() {
  settled_cv_.notify_all();
  if (done_hook_.fn != nullptr) done_hook_.fn(done_hook_.user, this);
  drop_ref();  // the unsettled items' reference
}

bool BatchRun::wait(Nanos timeout_ns) {
  core::UniqueLock lock(mutex_);
  // The predicate forms of wait, written out: clang checks the guarded reads here, where
  // the lock is held, and not in a lambda it cannot see the lock from.
  if (timeout_ns < 0) {
    while (settled_ != items_.size()) settled_cv_.wait(lock.native());
    return true;
  }
  const auto deadline =
      core::to_time_point(core::deadline_after(core::monotonic_now(), timeout_ns));
  while (settled_ != items_.size()) {
    if (settled_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout) {
      return settled_ == items_.size();
    }
  }
  return true;
}

RunCounts BatchRun::report(std::span<int> statuses) {
  if (statuses.size() > items_.size()) {
    core::fail(Status::kInvalid, "statuses has " + std::to_string(statuses.size()) +
                                     " entries but the batch has " + std::to_string(items_.size()) +
                                     " items");
  }
  RunCounts out;
  {
    core::MutexLock lock(mutex_);
    out = counts_;
    out.pending = items_.size() - settled_;
    out.elapsed_ns =
        (settled_ == items_.size() ? finished_at_ : core::monotonic_now()) - started_at_;
    for (size_t i = 0; i < statuses.size(); ++i) statuses[i] = items_[i].status;
  }
  out.concurrency = own_->config().max_concurrent;
  if (adaptive_) {
    const AdaptiveStats st = adaptive_->stats();
    out.backoffs = st.backoffs;
    out.recoveries = st.recoveries;
  }
  return out;
}

}  // namespace ptl::exec
