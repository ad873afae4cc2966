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

void ShmLimiter::fail_bad_permit(core::Permit permit) const {
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
    window_prepare(*seg_, b, config_of(b));
  } catch (const core::Error& e) {
    why = e.what();
  }
  core::fail(core::Status::kBackend,
             "limiter '" + name_ + "' of " + seg_->uri() + " could not grant this waiter: " + why);
}

core::Status ShmLimiter::try_now(uint64_t cost, core::Nanos* now, core::Nanos* retry_at,
                                 core::Permit* out) {
  LimiterBlock& b = *b_;
  check_cost(config_of(b), cost);
  *now = clock_for(b);
  *retry_at = core::kNever;
  bool fits = b.waiting == 0 && reserve(*seg_, b, cost, *now, retry_at);
  if (!fits && maybe_sweep(*seg_, b)) {  // dead holders were in the way
    *now = clock_for(b);
    fits = b.waiting == 0 && reserve(*seg_, b, cost, *now, retry_at);
  }
  if (!fits) return core::Status::kAgain;
  try {
    *out = grant_new(*seg_, b, cost, *now);
  } catch (const core::Error& e) {
    if (e.status() != core::Status::kNoMemory) throw;
    return core::Status::kNoMemory;
  }
  return core::Status::kOk;
}

core::Status ShmLimiter::acquire(uint64_t cost, core::Nanos timeout_ns, core::Permit* out) {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  core::Nanos now = 0, retry_at = core::kNever;
  const core::Status st = try_now(cost, &now, &retry_at, out);
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
    t = enqueue(*seg_, b, cost, now, /*async=*/false);
  } catch (const core::Error& e) {
    if (e.status() != core::Status::kNoMemory) throw;
    return core::Status::kNoMemory;
  }
  dispatch(*seg_, b, now);  // tells the new head (perhaps this one) when to look
  return wait(lock, t, core::deadline_after(now, timeout_ns), out);
}

core::Status ShmLimiter::wait(LimiterLock& lock, const Ticket& t, core::Nanos deadline,
                              core::Permit* out) {
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

core::Status ShmLimiter::try_acquire(uint64_t cost, core::Permit* out,
                                     core::Nanos* retry_after_ns) {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  core::Nanos now = 0, retry_at = core::kNever;
  const core::Status st = try_now(cost, &now, &retry_at, out);
  if (st != core::Status::kAgain) return st;
  LimiterBlock& b = *b_;
  ++b.total_rejected;
  if (retry_after_ns != nullptr) {
    // -1 when only a release can make room, or others are in line before it.
    *retry_after_ns = b.waiting > 0 || retry_at == core::kNever ? -1 : retry_at - now;
  }
  return core::Status::kAgain;
}

void ShmLimiter::release(core::Permit permit, std::optional<uint64_t> actual_cost) {
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

void ShmLimiter::reconfigure(const core::LimiterConfig& config) {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  window_prepare(*seg_, b, config);  // a full segment: an error, and the config unchanged
  apply_config(b, config);
  log::logger().info(
      "limiter '{}' reconfigured: max_concurrent {}, {} per {} s, cost {}; {} in flight", name_,
      config.max_concurrent, config.max_per_window, config.window_seconds,
      config.max_cost_per_window, b.in_flight);
  if (b.waiting > 0) dispatch(*seg_, b, core::monotonic_now());
}

core::LimiterConfig ShmLimiter::config() {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  return config_of(*b_);
}

core::LimiterStats ShmLimiter::stats() {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  const core::Nanos now = core::monotonic_now();
  // Exact at the time of the call: dead processes' permits and waiters do not count.
  sweep(*seg_, b, now);
  if (b.waiting > 0) dispatch(*seg_, b, now);
  core::LimiterStats st;
  st.config = config_of(b);
  st.in_flight = b.in_flight;
  st.waiting = b.waiting;
  if (has_window(b)) {
    window_evict(*seg_, b, now);
    st.current_window_count = window_count(b);
    st.current_window_cost = b.cost_sum;
  }
  st.total_acquired = b.total_acquired;
  st.total_timeouts = b.total_timeouts;
  st.total_cancelled = b.total_cancelled;
  st.total_rejected = b.total_rejected;
  st.total_wait_ns = b.total_wait_ns;
  return st;
}

}  // namespace ptl::shm
