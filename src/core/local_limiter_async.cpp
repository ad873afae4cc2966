// SPDX-License-Identifier: MIT
// The parts of LocalLimiter that run off the caller's thread or change it from outside:
// asynchronous acquires and their timer, cancel, penalties, reconfiguration, stats.
#include <algorithm>

#include "core/local_limiter.hpp"
#include "core/thread_annotations.hpp"
#include "log/log.hpp"

namespace ptl::core {
namespace {
std::atomic<uint64_t> g_next_ticket{1};  // tickets are unique in the process
}  // namespace

void LocalLimiter::schedule_timer_locked(Nanos at) {
  SlowState& ss = slow();
  if (at >= ss.timer_at) return;  // an earlier timer will look again
  ss.timer_at = at;
  clock_->run_at(at,
                 [self = KeepAlive(this)] { static_cast<LocalLimiter*>(self.get())->on_timer(); });
}

void LocalLimiter::on_timer() {
  Completions done;
  MutexLock lock(mutex_);
  SlowState& ss = slow();
  if (ss.closed) return;
  const Nanos now = clock_->now();
  if (ss.timer_at <= now) ss.timer_at = kNever;
  for (auto it = ss.waiters.begin(); it != ss.waiters.end();) {
    Waiter& w = *it++;
    if (w.is_async() && w.deadline <= now) {
      log::logger().debug("async acquire {} timed out", w.ticket);
      finish_waiter_locked(w, Status::kTimedOut, now, done);
    }
  }
  dispatch_locked(now, done);
  Nanos next_deadline = kNever;
  for (const Waiter& w : ss.waiters) {
    if (w.is_async()) next_deadline = std::min(next_deadline, w.deadline);
  }
  if (next_deadline != kNever) schedule_timer_locked(next_deadline);
}

// ---- asynchronous acquire -------------------------------------------------------------

void LocalLimiter::acquire_async(const Demand& demand, Nanos timeout_ns, AcquireCallback cb,
                                 uint64_t* ticket) {
  const uint64_t id = g_next_ticket.fetch_add(1, std::memory_order_relaxed);
  if (ticket != nullptr) *ticket = id;
  PermitId permit = 0;
  if (ring_eligible(demand) && try_fast(&permit) == FastResult::kGranted) {
    return cb(Status::kOk, permit);
  }

  auto waiter = std::make_unique<Waiter>();  // before the lock: allocation may throw
  Status immediate;
  {
    Completions done;
    MutexLock lock(mutex_);
    const Charges charges = charges_locked(demand);
    Nanos now, retry_at;
    immediate = start_acquire_locked(charges, &permit, &now, &retry_at);
    if (immediate == Status::kAgain && timeout_ns == 0) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
    } else if (immediate == Status::kAgain) {
      Waiter* w = waiter.release();
      w->charges = charges;
      w->callback = cb;
      w->ticket = id;
      w->enqueued_at = now;
      w->deadline = deadline_after(now, timeout_ns);
      slow().waiters.push_back(*w);
      if (w->deadline != kNever) schedule_timer_locked(w->deadline);
      dispatch_locked(now, done);
      return;
    }
    leave_slow_if_idle_locked(now);
  }
  cb(immediate, permit);
}

Status LocalLimiter::cancel(uint64_t ticket) {
  Completions done;
  MutexLock lock(mutex_);
  if (!slow_) return Status::kNotFound;
  for (Waiter& w : slow_->waiters) {
    if (w.is_async() && w.ticket == ticket) {
      const Nanos now = clock_->now();
      finish_waiter_locked(w, Status::kCanceled, now, done);
      dispatch_locked(now, done);
      return Status::kOk;
    }
  }
  return Status::kNotFound;
}

// ---- control --------------------------------------------------------------------------

void LocalLimiter::penalize(Nanos retry_after_ns) {
  if (retry_after_ns < 0) fail(Status::kInvalid, "retry_after_ns must be >= 0");
  Completions done;
  MutexLock lock(mutex_);
  enter_slow_locked();
  const Nanos now = clock_->now();
  SlowState& ss = slow();
  // Capped below kNever, which would read as "no time can be told" to try_acquire.
  ss.penalty_until =
      std::max(ss.penalty_until, std::min(deadline_after(now, retry_after_ns), kNever - 1));
  log::logger().info("limiter penalized for {} ms; {} waiting", retry_after_ns / 1000000,
                     ss.waiters.size());
  dispatch_locked(now, done);
}

}  // namespace ptl::core
