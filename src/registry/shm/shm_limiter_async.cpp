// SPDX-License-Identifier: MIT
// ShmLimiter's asynchronous side: acquire_async, cancel, and close (the last handle
// reference completes this handle's pending acquires with kClosed). Waiters queue in
// the segment like any other; the process's agent (agent.hpp) completes them.
#include <atomic>
#include <memory>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/shm/agent.hpp"
#include "registry/shm/limiter_ops.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/shm_limiter.hpp"
#include "registry/shm/slots.hpp"

namespace ptl::shm {
namespace {
std::atomic<uint64_t> g_next_ticket{1};  // unique in the process, as the local backend's
}  // namespace

void ShmLimiter::acquire_async(const core::Demand& demand, core::Nanos timeout_ns,
                               core::AcquireCallback cb, uint64_t* ticket) {
  const uint64_t id = g_next_ticket.fetch_add(1, std::memory_order_relaxed);
  if (ticket != nullptr) *ticket = id;
  seg_->check_process();
  Agent& agent = seg_->agent();
  auto waiter = std::make_unique<AsyncWaiter>(this);  // before the locks: may throw
  core::Status immediate = core::Status::kAgain;
  core::PermitId permit = 0;
  {
    // The agent's lock first, as the agent itself takes them: a grant the agent sees
    // always finds its waiter registered.
    core::MutexLock async_lock(agent.async_mutex());
    LimiterLock lock(*seg_, *b_);
    check_live(lock);
    LimiterBlock& b = *b_;
    const UnitDemand d = resolve_locked(demand);
    core::Nanos now = 0, retry_at = core::kNever;
    immediate = try_now(d, &now, &retry_at, &permit);
    if (immediate == core::Status::kAgain && timeout_ns == 0) {
      ++b.total_rejected;
    } else if (immediate == core::Status::kAgain) {
      if (now == 0) now = core::monotonic_now();
      try {
        waiter->ticket = enqueue(*seg_, b, d, now, /*async=*/true);
      } catch (const core::StatusError& e) {
        if (e.status() != core::Status::kNoMemory) throw;
        immediate = core::Status::kNoMemory;
      }
      if (immediate == core::Status::kAgain) {
        AsyncWaiter* w = waiter.release();
        w->block = b_;
        w->uid = uid_;
        w->deadline = core::deadline_after(now, timeout_ns);
        w->cb = cb;
        w->id = id;
        agent.add_async(w);
        dispatch(*seg_, b, now);
      }
    }
  }
  if (!waiter) {
    agent.wake();  // a new deadline to keep
    return;
  }
  cb(immediate, permit);
}

core::Status ShmLimiter::cancel(uint64_t ticket) {
  seg_->check_process();
  Agent& agent = seg_->agent();
  AsyncWaiter* cancelled = nullptr;
  {
    core::MutexLock async_lock(agent.async_mutex());
    AsyncWaiter* w = agent.find_async(ticket);
    // Any handle of the same limiter may cancel (registry get() makes a new handle).
    if (w == nullptr || w->block != b_ || w->uid != uid_) return core::Status::kNotFound;
    LimiterLock lock(*seg_, *b_);
    // Removed, granted or finished: the agent completes it, this cancel is too late.
    if (!lock.live(uid_)) return core::Status::kNotFound;
    if (!leave_queue(*seg_, *b_, w->ticket, core::Status::kCanceled, core::monotonic_now())) {
      return core::Status::kNotFound;
    }
    agent.remove_async(w);
    cancelled = w;
  }
  cancelled->cb(core::Status::kCanceled, 0);
  delete cancelled;
  return core::Status::kOk;
}

void ShmLimiter::close() {
  if (!seg_->same_process()) return;  // a forked child: the waiters are the parent's
  Agent& agent = seg_->agent();
  AsyncList closed;
  {
    core::MutexLock async_lock(agent.async_mutex());
    AsyncList& all = agent.async_waiters();
    for (auto it = all.begin(); it != all.end();) {
      AsyncWaiter& w = *it++;
      if (w.keep.get() != this) continue;
      try {
        LimiterLock lock(*seg_, *w.block);
        if (lock.live(w.uid)) {
          withdraw(*seg_, *w.block, w.ticket, core::Status::kClosed, core::monotonic_now());
        }
      } catch (const core::StatusError& e) {
        log::logger().error("{}: closing an async acquire: {}", seg_->uri(), e.what());
      }
      agent.remove_async(&w);
      closed.push_back(w);
    }
  }
  closed.clear_and_dispose([](AsyncWaiter* w) {
    w->cb(core::Status::kClosed, 0);
    delete w;
  });
}

}  // namespace ptl::shm
