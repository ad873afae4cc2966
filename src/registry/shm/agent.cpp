// SPDX-License-Identifier: MIT
#include "registry/shm/agent.hpp"

#include <algorithm>
#include <thread>
#include <vector>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/shm/process_table.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm {
namespace {
thread_local const Agent* t_agent = nullptr;  // the agent whose thread this is
std::atomic<AgentLoopHook> g_agent_loop_hook{nullptr};
}  // namespace

void set_agent_loop_hook(AgentLoopHook hook) {
  g_agent_loop_hook.store(hook, std::memory_order_relaxed);
}

Agent::~Agent() {
  // Only ever destroyed with the segment, once no handle (and so no waiter) is left.
  AsyncList left;
  left.swap(async_);
  left.clear_and_dispose([](AsyncWaiter* w) { delete w; });
}

void Agent::start(std::shared_ptr<Segment> self) {
  // Shared: the thread may still be inside set_value() when this returns.
  auto claimed = std::make_shared<std::promise<void>>();
  std::future<void> ready = claimed->get_future();
  // Detached: the thread owns `self`, so the mapping outlives everything it touches.
  std::thread([this, keep = std::move(self), claimed] { run(claimed.get()); }).detach();
  ready.get();  // rethrows a failed claim
}

void Agent::stop() {
  stop_.store(true, std::memory_order_release);
  wake();  // after the flag: run() relies on that order
  // On an agent thread (a callback closing the last handle) it is not waited for: this
  // agent exits after the callback, and agents never wait for one another.
  if (t_agent != nullptr) return;
  // Synchronous: once the last handle is closed this process is no longer attached.
  core::UniqueLock lock(exit_mu_);
  while (!exited_) exit_cv_.wait(lock.native());  // a loop: clang sees the guarded read
}

void Agent::wake() {
  ring_doorbell(seg_, seg_.self());
}

void Agent::add_waiting(LimiterBlock* b, uint64_t uid) {
  bool first = false;
  {
    core::MutexLock lock(waiting_mu_);
    first = waiting_.empty();
    ++waiting_[{b, uid}];
  }
  if (first) wake();  // the periodic sweep starts now
}

void Agent::remove_waiting(LimiterBlock* b, uint64_t uid) {
  core::MutexLock lock(waiting_mu_);
  auto it = waiting_.find({b, uid});
  if (it != waiting_.end() && --it->second == 0) waiting_.erase(it);
}

AsyncWaiter* Agent::find_async(uint64_t id) {
  for (AsyncWaiter& w : async_) {
    if (w.id == id) return &w;
  }
  return nullptr;
}

bool Agent::has_waiters() {
  {
    core::MutexLock lock(waiting_mu_);
    if (!waiting_.empty()) return true;
  }
  core::MutexLock lock(async_mu_);
  return !async_.empty();
}

void Agent::run(std::promise<void>* claimed) {
  t_agent = this;
  uint32_t self = 0;
  try {
    uint64_t generation = 0;
    self = claim_proc_entry(seg_, &generation);
    seg_.set_identity(self, generation);
  } catch (...) {
    claimed->set_exception(std::current_exception());
    return;
  }
  claimed->set_value();
  log::logger().debug("{}: attached as process entry {}", seg_.uri(), self);

  ProcEntry& me = seg_.proc(self);
  core::Nanos next_sweep = core::kNever;
  for (;;) {
    // The doorbell before the stop flag: stop() sets the flag, then rings. A ring after
    // this read makes the wait below return at once; a ring before it comes with the
    // flag, seen below. Read the other way round, a stop() between the two would be
    // absorbed and the agent sleep (with no deadline) while stop() waits for it.
    const uint32_t seen = me.doorbell.load(std::memory_order_acquire);
    if (auto* hook = g_agent_loop_hook.load(std::memory_order_relaxed)) hook(me.doorbell);
    if (stop_.load(std::memory_order_acquire)) break;
    const core::Nanos now = core::monotonic_now();
    const bool sweep_due = now >= next_sweep;
    if (sweep_due) sweep_waited(now);
    AsyncList done;
    core::Nanos next = serve(now, sweep_due, &done);
    if (has_waiters()) {
      if (sweep_due || next_sweep == core::kNever) next_sweep = now + kSweepPeriod;
      next = std::min(next, next_sweep);
    } else {
      next_sweep = core::kNever;  // nobody waits: nobody needs to know who died
    }
    if (!done.empty()) {
      // No lock held: a callback may acquire, release or cancel.
      done.clear_and_dispose([](AsyncWaiter* w) {
        w->cb(w->status, w->permit);
        delete w;
      });
      continue;
    }
    futex_wait(&me.doorbell, seen, next);
  }
  release_proc_entry(seg_, self);
  log::logger().debug("{}: detached process entry {}", seg_.uri(), self);
  core::MutexLock lock(exit_mu_);
  exited_ = true;
  exit_cv_.notify_all();
}

core::Nanos Agent::serve(core::Nanos now, bool force, AsyncList* done) {
  core::Nanos next = core::kNever;
  core::MutexLock lock(async_mu_);
  for (auto it = async_.begin(); it != async_.end();) {
    AsyncWaiter& w = *it++;
    core::Nanos wake = core::kNever;
    if (poll(w, now, force, &wake)) {
      async_.erase(async_.iterator_to(w));
      done->push_back(w);
    } else {
      next = std::min(next, wake);
    }
  }
  return next;
}

bool Agent::poll(AsyncWaiter& w, core::Nanos now, bool force, core::Nanos* wake) {
  Slot& s = *w.ticket.slot;
  if (!force) {
    // A look without the lock (slots and limiter blocks are type-stable): most waiters
    // are still waiting, and the doorbell says when one may not be.
    const core::Nanos wake_at = s.wake_at.load(std::memory_order_relaxed);
    if (w.block->uid.load(std::memory_order_acquire) == w.uid &&
        s.word.load(std::memory_order_acquire) == slot_word(w.ticket.serial, kWaiting) &&
        now < w.deadline && now < wake_at) {
      *wake = std::min(w.deadline, wake_at);
      return false;
    }
  }
  try {
    LimiterLock lock(seg_, *w.block);
    if (!lock.live(w.uid)) {
      w.status = core::Status::kClosed;  // removed from the registry
      return true;
    }
    core::Status st = core::Status::kOk;
    Outcome o = outcome(w.ticket, &st);
    if (o == Outcome::kWaiting && now >= s.wake_at.load(std::memory_order_relaxed)) {
      dispatch(seg_, *w.block, now);  // its room has come (the window slid, a penalty ended)
      o = outcome(w.ticket, &st);
    }
    switch (o) {
      case Outcome::kGranted:
        w.status = core::Status::kOk;
        w.permit = make_permit(w.ticket.index, w.ticket.serial);
        return true;
      case Outcome::kFinished:
        w.status = st;
        return true;
      case Outcome::kLost:
        log::logger().error("{}: an async waiter's slot was taken from it", seg_.uri());
        w.status = core::Status::kInternal;
        return true;
      case Outcome::kWaiting:
        break;
    }
    if (now >= w.deadline) {
      leave_queue(seg_, *w.block, w.ticket, core::Status::kTimedOut, now);
      log::logger().debug("async acquire {} timed out", w.id);
      w.status = core::Status::kTimedOut;
      return true;
    }
    if (s.wake_at.load(std::memory_order_relaxed) <= now) {
      s.wake_at.store(core::kNever, std::memory_order_relaxed);  // not the head
    }
    *wake = std::min(w.deadline, s.wake_at.load(std::memory_order_relaxed));
    return false;
  } catch (const core::StatusError& e) {
    log::logger().error("{}: async acquire {}: {}", seg_.uri(), w.id, e.what());
    w.status = e.status();
    abandon(w, now);
    return true;
  }
}

void Agent::abandon(AsyncWaiter& w, core::Nanos now) {
  // Its callback reports the error: its slot must not stay in line (a grant to nobody
  // would never be released) nor stay held.
  try {
    LimiterLock lock(seg_, *w.block);
    if (lock.live(w.uid)) withdraw(seg_, *w.block, w.ticket, w.status, now);
  } catch (const core::StatusError& e) {
    log::logger().error("{}: async acquire {}: cannot withdraw it: {}", seg_.uri(), w.id, e.what());
  }
}

void Agent::sweep_waited(core::Nanos now) {
  std::vector<std::pair<LimiterBlock*, uint64_t>> targets;
  {
    core::MutexLock lock(waiting_mu_);
    for (const auto& [key, count] : waiting_) targets.push_back(key);
  }
  {
    core::MutexLock lock(async_mu_);
    for (const AsyncWaiter& w : async_) targets.emplace_back(w.block, w.uid);
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  for (const auto& [b, uid] : targets) {
    try {
      LimiterLock lock(seg_, *b);
      if (!lock.live(uid)) continue;
      sweep(seg_, *b, now);
      if (b->waiting > 0) dispatch(seg_, *b, now);
    } catch (const core::StatusError& e) {
      log::logger().error("{}: sweep: {}", seg_.uri(), e.what());
    }
  }
}

}  // namespace ptl::shm
