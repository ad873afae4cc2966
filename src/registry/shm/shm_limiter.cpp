// SPDX-License-Identifier: MIT
#include "registry/shm/shm_limiter.hpp"

#include <algorithm>
#include <string>

#include "log/log.hpp"
#include "registry/shm/agent.hpp"
#include "registry/shm/limiter_ops.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/sync.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {
namespace {

// While a thread waits, its process's agent sweeps the limiter for dead holders.
class WaitingRegistration {
 public:
  WaitingRegistration(Agent& agent, LimiterBlock* b, uint64_t uid)
      : agent_(agent), b_(b), uid_(uid) {
    agent_.add_waiting(b_, uid_);
  }
  WaitingRegistration(const WaitingRegistration&) = delete;
  WaitingRegistration& operator=(const WaitingRegistration&) = delete;
  ~WaitingRegistration() { agent_.remove_waiting(b_, uid_); }

 private:
  Agent& agent_;
  LimiterBlock* b_;
  uint64_t uid_;
};

}  // namespace

ShmLimiter::ShmLimiter(std::shared_ptr<Segment> seg, LimiterBlock* block, uint64_t uid,
                       std::string name)
    : seg_(std::move(seg)), b_(block), uid_(uid), name_(std::move(name)) {
  seg_->add_user();
}

ShmLimiter::~ShmLimiter() {
  seg_->drop_user();
}

void ShmLimiter::check_live(const LimiterLock& lock) const {
  if (!lock.live(uid_)) fail_closed();
}

void ShmLimiter::fail_closed() const {
  core::fail(core::Status::kClosed, "limiter '" + name_ + "' was removed from " + seg_->uri() +
                                        " by a registry remove or reset");
}

void ShmLimiter::fail_bad_permit(core::PermitId permit) const {
  log::logger().warn("release of permit {} that is not held (double release?)", permit);
  core::fail(core::Status::kInvalid, "permit " + std::to_string(permit) +
                                         " is not held on this limiter (already released, "
                                         "reclaimed, or another limiter's)");
}

void ShmLimiter::fail_unserved(LimiterBlock& b) const {
  // Whoever dispatched could not record its grant: this process's own try says why,
  // with the size, if the segment is still full.
  std::string why =
      "its window log could not be allocated or read (logged by the process that tried)";
  try {
    for (LimitRecord& l : b.limits) {
      if (l.max == 0 || l.window_ns == 0 || l.log != 0) continue;
      log_free(*seg_, log_alloc_first(*seg_));  // only to learn why it fails
    }
  } catch (const core::StatusError& e) {
    why = e.what();
  }
  core::fail(core::Status::kBackend,
             "limiter '" + name_ + "' of " + seg_->uri() + " could not grant this waiter: " + why);
}

const core::PolicySpec& ShmLimiter::policy_locked() {
  if (cached_version_ != b_->policy_version) {
    cached_policy_ = policy_of(*seg_, *b_);
    default_demand_ = demand_of(*b_, core::resolve_charges(cached_policy_, nullptr, 0));
    cached_version_ = b_->policy_version;
  }
  return cached_policy_;
}

UnitDemand ShmLimiter::resolve_locked(const core::Demand& demand) {
  const core::PolicySpec& p = policy_locked();
  if (demand.n == 0) return default_demand_;  // most calls: one request, nothing to look up
  return demand_of(*b_, core::resolve_charges(p, demand.amounts, demand.n, demand.lenient_tokens));
}

core::Status ShmLimiter::try_now(const UnitDemand& d, core::Nanos* now, core::Nanos* retry_at,
                                 core::PermitId* out) {
  LimiterBlock& b = *b_;
  *now = clock_for(b);
  *retry_at = core::kNever;
  bool fits = b.waiting == 0 && reserve(*seg_, b, d, *now, retry_at);
  if (!fits && maybe_sweep(*seg_, b, *retry_at)) {  // dead holders were in the way
    *now = clock_for(b);
    fits = b.waiting == 0 && reserve(*seg_, b, d, *now, retry_at);
  }
  if (!fits) return core::Status::kAgain;
  try {
    *out = grant_new(*seg_, b, d, *now);
  } catch (const core::StatusError& e) {
    if (e.status() != core::Status::kNoMemory) throw;
    return core::Status::kNoMemory;
  }
  return core::Status::kOk;
}

core::Status ShmLimiter::acquire(const core::Demand& demand, core::Nanos timeout_ns,
                                 core::PermitId* out) {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  const UnitDemand d = resolve_locked(demand);
  core::Nanos now = 0, retry_at = core::kNever;
  const core::Status st = try_now(d, &now, &retry_at, out);
  if (st != core::Status::kAgain) return st;
  LimiterBlock& b = *b_;
  if (timeout_ns == 0) {
    ++b.total_rejected;
    return core::Status::kAgain;
  }
  if (now == 0) now = core::monotonic_now();
  // Registered before it queues: nothing between queuing and waiting can throw.
  WaitingRegistration registration(seg_->agent(), b_, uid_);
  Ticket t;
  try {
    t = enqueue(*seg_, b, d, now, /*async=*/false);
  } catch (const core::StatusError& e) {
    if (e.status() != core::Status::kNoMemory) throw;
    return core::Status::kNoMemory;
  }
  dispatch(*seg_, b, now);  // tells the new head (perhaps this one) when to look
  return wait(lock, t, core::deadline_after(now, timeout_ns), out);
}

core::Status ShmLimiter::wait(LimiterLock& lock, const Ticket& t, core::Nanos deadline,
                              core::PermitId* out) {
  LimiterBlock& b = *b_;
  Slot& s = *t.slot;
  for (;;) {
    core::Status st = core::Status::kOk;
    Outcome o = outcome(t, &st);
    core::Nanos now = core::monotonic_now();
    if (o == Outcome::kWaiting && now >= s.wake_at.load(std::memory_order_relaxed)) {
      dispatch(*seg_, b, now);  // this head's room has come: take it
      o = outcome(t, &st);
      if (o == Outcome::kWaiting && s.wake_at.load(std::memory_order_relaxed) <= now) {
        s.wake_at.store(core::kNever, std::memory_order_relaxed);  // not the head
      }
    }
    switch (o) {
      case Outcome::kGranted:
        *out = make_permit(t.index, t.serial);
        return core::Status::kOk;
      case Outcome::kFinished:
        if (st == core::Status::kBackend) fail_unserved(b);
        return st;
      case Outcome::kLost:
        core::fail(core::Status::kInternal, "a waiter's slot in " + seg_->uri() + " was taken");
      case Outcome::kWaiting:
        break;
    }
    if (now >= deadline) {
      leave_queue(*seg_, b, t, core::Status::kTimedOut, now);
      log::logger().debug("acquire timed out after {} ns in line", now - s.enqueued_at);
      return core::Status::kTimedOut;
    }
    // Read under the lock: any change made after this (under the lock) bumps it, so the
    // wait below returns at once instead of missing it.
    const uint32_t seen = s.futex.load(std::memory_order_acquire);
    const core::Nanos until = std::min(deadline, s.wake_at.load(std::memory_order_relaxed));
    lock.unlock();
    futex_wait(&s.futex, seen, until);
    lock.relock();
    check_live(lock);  // removed while it slept: the slot is not its own any more
  }
}

core::Status ShmLimiter::try_acquire(const core::Demand& demand, core::PermitId* out,
                                     core::Nanos* retry_after_ns) {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  const UnitDemand d = resolve_locked(demand);
  core::Nanos now = 0, retry_at = core::kNever;
  const core::Status st = try_now(d, &now, &retry_at, out);
  if (st != core::Status::kAgain) return st;
  LimiterBlock& b = *b_;
  ++b.total_rejected;
  if (retry_after_ns != nullptr) {
    // -1 when only a release can make room, or others are in line before it.
    *retry_after_ns = b.waiting > 0 || retry_at == core::kNever ? -1 : retry_at - now;
  }
  return core::Status::kAgain;
}

void ShmLimiter::release(core::PermitId permit, std::optional<uint64_t> actual_cost) {
  if ((permit & kShmPermitBit) == 0) fail_bad_permit(permit);  // a local permit
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  if (!release_permit(*seg_, *b_, permit, actual_cost)) fail_bad_permit(permit);
}

void ShmLimiter::penalize(core::Nanos retry_after_ns) {
  if (retry_after_ns < 0) core::fail(core::Status::kInvalid, "retry_after_ns must be >= 0");
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  const core::Nanos now = core::monotonic_now();
  // Capped below kNever, which would read as "no time can be told" to try_acquire.
  b.penalty_until = std::max(b.penalty_until,
                             std::min(core::deadline_after(now, retry_after_ns), core::kNever - 1));
  log::logger().info("limiter '{}' penalized for {} ms; {} waiting", name_,
                     retry_after_ns / 1000000, b.waiting);
  if (b.waiting > 0) dispatch(*seg_, b, now);
}

}  // namespace ptl::shm
