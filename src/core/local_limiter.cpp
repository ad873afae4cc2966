#include "core/local_limiter.hpp"

#include <algorithm>
#include <string>

#include "log/log.hpp"

namespace ptl::core {
namespace {

constexpr uint64_t kInFlightMask = 0xffffffffu;
constexpr uint64_t kTagUnit = uint64_t{1} << 32;
constexpr uint64_t kTagMask = 0x7fffffffu * kTagUnit;
constexpr uint64_t kSlow = uint64_t{1} << 63;

// The same word with kSlow set or cleared and the tag advanced.
uint64_t with_mode(uint64_t s, bool slow) {
  const uint64_t tag = ((s & kTagMask) + kTagUnit) & kTagMask;
  return (s & kInFlightMask) | tag | (slow ? kSlow : 0);
}

}  // namespace

void Limiter::check_cost(const LimiterConfig& config, uint64_t cost) {
  if (config.max_cost_per_window != 0 && cost > config.max_cost_per_window) {
    fail(Status::kInvalid, "cost " + std::to_string(cost) + " exceeds max_cost_per_window " +
                               std::to_string(config.max_cost_per_window));
  }
}

LocalLimiter::LocalLimiter(const LimiterConfig& config)
    : max_concurrent_(config.max_concurrent), config_(config), window_ns_(config.window_ns()) {
  if (config.has_window()) {
    std::lock_guard<std::mutex> lock(mutex_);
    slow().window = std::make_unique<SlidingWindow>();
    enter_slow_locked();
  }
}

LocalLimiter::~LocalLimiter() = default;

void LocalLimiter::close() {
  // Nobody else can reach the limiter now, so no thread waits synchronously on it;
  // asynchronous waiters are told it is gone.
  Completions done;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!slow_) return;  // never waited on: nothing to tell
  SlowState& ss = *slow_;
  ss.closed = true;
  while (!ss.waiters.empty()) {
    Waiter& w = ss.waiters.front();
    ss.waiters.pop_front();
    w.done = true;
    w.status = Status::kClosed;
    done.add(&w);
  }
}

// ---- fast mode ------------------------------------------------------------------------

LocalLimiter::FastResult LocalLimiter::try_fast(Permit* out) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (s & kSlow) return FastResult::kSlowMode;
    if ((s & kInFlightMask) >= max_concurrent_.load(std::memory_order_relaxed)) {
      return FastResult::kFull;
    }
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      break;
    }
  }
  try {
    *out = permits_.issue((s & kInFlightMask) + 1);
  } catch (...) {
    give_back_reservation();  // gives the reservation back, waking anyone who needs it
    throw;
  }
  return FastResult::kGranted;
}

Status LocalLimiter::acquire(uint64_t cost, Nanos timeout_ns, Permit* out) {
  if (try_fast(out) == FastResult::kGranted) return Status::kOk;
  Completions done;
  std::unique_lock<std::mutex> lock(mutex_);
  Nanos now, retry_at;
  const Status st = start_acquire_locked(cost, out, &now, &retry_at);
  if (st != Status::kAgain) {
    leave_slow_if_idle_locked(now);
    return st;
  }
  if (timeout_ns == 0) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    leave_slow_if_idle_locked(now);
    return Status::kAgain;
  }
  std::condition_variable cv;
  Waiter w;
  w.cost = cost;
  w.cv = &cv;
  w.enqueued_at = now;
  w.deadline = deadline_after(now, timeout_ns);
  slow().waiters.push_back(w);
  dispatch_locked(now, done);  // computes the new head's wake-up time
  const Status waited = wait_locked(lock, w, done);
  if (waited == Status::kOk) *out = w.permit;
  return waited;
}

Status LocalLimiter::try_acquire(uint64_t cost, Permit* out, Nanos* retry_after_ns) {
  const FastResult fast = try_fast(out);
  if (fast == FastResult::kGranted) return Status::kOk;
  if (fast == FastResult::kFull) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    if (retry_after_ns != nullptr) *retry_after_ns = -1;
    return Status::kAgain;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Nanos now, retry_at;
  const Status st = start_acquire_locked(cost, out, &now, &retry_at);
  if (st == Status::kAgain) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    if (retry_after_ns != nullptr) *retry_after_ns = retry_at == kNever ? -1 : retry_at - now;
  }
  leave_slow_if_idle_locked(now);
  return st;
}

void LocalLimiter::release(Permit permit, std::optional<uint64_t> actual_cost) {
  uint64_t s = state_.load(std::memory_order_acquire);
  if (s & kSlow) return release_slow(permit, actual_cost);
  // Fast mode has no window, so there is no cost to correct.
  if (!permits_.retire(permit)) throw_bad_permit(permit);
  // One unconditional RMW, no CAS loop: two releasing threads never retry.
  if (state_.fetch_sub(1, std::memory_order_acq_rel) & kSlow) wake_after_release();
}

void LocalLimiter::throw_bad_permit(Permit permit) {
  log::logger().warn("release of permit {} that is not held (double release?)", permit);
  fail(Status::kInvalid, "permit " + std::to_string(permit) +
                             " is not held on this limiter (already released, or another "
                             "limiter's)");
}

// ---- slow mode ------------------------------------------------------------------------

void LocalLimiter::release_slow(Permit permit, std::optional<uint64_t> actual_cost) {
  Completions done;
  std::lock_guard<std::mutex> lock(mutex_);
  enter_slow_locked();  // a reconfigure may have left slow mode since the caller looked
  PermitTable::Slot* slot = permits_.find(permit);
  const uint64_t entry = slot ? slot->cost_entry.load(std::memory_order_relaxed) : 0;
  if (slot == nullptr || !permits_.retire(permit)) {
    leave_slow_if_idle_locked(monotonic_now());
    throw_bad_permit(permit);
  }
  if (actual_cost && entry != 0 && slow().window) slow().window->correct(entry, *actual_cost);
  --slow_in_flight_delta_;
  after_release_locked(done);
}

void LocalLimiter::give_back_reservation() {
  if (state_.fetch_sub(1, std::memory_order_acq_rel) & kSlow) wake_after_release();
}

void LocalLimiter::wake_after_release() {
  Completions done;
  std::lock_guard<std::mutex> lock(mutex_);
  after_release_locked(done);
}

void LocalLimiter::after_release_locked(Completions& done) {
  // A windowed limiter with nobody waiting has nothing to hand over and stays slow:
  // skip the clock read, the most expensive step of a release.
  const SlowState& ss = slow();
  if (ss.waiters.empty() && config_.has_window()) return;
  dispatch_locked(monotonic_now(), done);
}

LocalLimiter::SlowState& LocalLimiter::slow() {
  if (!slow_) slow_ = std::make_unique<SlowState>();
  return *slow_;
}

void LocalLimiter::enter_slow_locked() {
  uint64_t s = state_.load(std::memory_order_acquire);
  while (!(s & kSlow) &&
         !state_.compare_exchange_weak(s, with_mode(s, true), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
  }
}

void LocalLimiter::leave_slow_if_idle_locked(Nanos now) {
  SlowState& ss = slow();
  if (!ss.waiters.empty() || config_.has_window() || ss.penalty_until > now) return;
  // Folds the lock holders' count back into the word that fast mode counts in.
  uint64_t s = state_.load(std::memory_order_acquire);
  while ((s & kSlow) && !state_.compare_exchange_weak(
                            s, with_mode(s, false) + static_cast<uint64_t>(slow_in_flight_delta_),
                            std::memory_order_acq_rel, std::memory_order_acquire)) {
  }
  slow_in_flight_delta_ = 0;
}

uint32_t LocalLimiter::in_flight() const {
  const auto counted = static_cast<int64_t>(state_.load(std::memory_order_acquire) & kInFlightMask);
  return static_cast<uint32_t>(counted + slow_in_flight_delta_);
}

bool LocalLimiter::reserve_locked(uint64_t cost, Nanos now, Nanos* retry_at) {
  SlowState& ss = slow();
  Nanos fit = std::max(now, ss.penalty_until);
  if (config_.has_window()) {
    const Nanos window = window_ns_;
    ss.window->evict(now, window);
    fit = std::max(fit, ss.window->earliest_fit(now, window, config_.max_per_window,
                                                config_.max_cost_per_window, cost));
  }
  if (fit > now) {
    *retry_at = fit;
    return false;
  }
  *retry_at = kNever;
  if (in_flight() >= config_.max_concurrent) return false;
  ++slow_in_flight_delta_;
  return true;
}

Status LocalLimiter::start_acquire_locked(uint64_t cost, Permit* out, Nanos* now, Nanos* retry_at) {
  check_cost(config_, cost);
  enter_slow_locked();
  *now = monotonic_now();
  if (!slow().waiters.empty()) {
    *retry_at = kNever;  // behind the queue: no time can be told
    return Status::kAgain;
  }
  if (!reserve_locked(cost, *now, retry_at)) return Status::kAgain;
  return grant_locked(cost, *now, out);
}

Status LocalLimiter::grant_locked(uint64_t cost, Nanos now, Permit* out) {
  Permit permit;
  try {
    permit = permits_.issue(in_flight());
  } catch (const Error&) {
    --slow_in_flight_delta_;
    return Status::kNoMemory;
  } catch (const std::bad_alloc&) {
    --slow_in_flight_delta_;
    return Status::kNoMemory;
  }
  if (config_.has_window()) {
    PermitTable::Slot* slot = permits_.find(permit);
    slot->cost.store(cost, std::memory_order_relaxed);
    slot->cost_entry.store(slow().window->record(now, cost), std::memory_order_relaxed);
  }
  *out = permit;
  return Status::kOk;
}

void LocalLimiter::dispatch_locked(Nanos now, Completions& done) {
  SlowState& ss = slow();
  while (!ss.waiters.empty()) {
    Waiter& w = ss.waiters.front();
    if (config_.max_cost_per_window != 0 && w.cost > config_.max_cost_per_window) {
      finish_waiter_locked(w, Status::kInvalid, now, done);  // a reconfigure shrank the window
      continue;
    }
    Nanos retry_at;
    if (!reserve_locked(w.cost, now, &retry_at)) {
      if (w.wake_at != retry_at) {
        w.wake_at = retry_at;
        if (!w.is_async()) w.cv->notify_one();  // it sleeps until wake_at itself
      }
      if (w.is_async() && retry_at != kNever) schedule_timer_locked(retry_at);
      break;
    }
    const Status st = grant_locked(w.cost, now, &w.permit);
    finish_waiter_locked(w, st, now, done);
  }
  leave_slow_if_idle_locked(now);
}

void LocalLimiter::finish_waiter_locked(Waiter& w, Status status, Nanos now, Completions& done) {
  SlowState& ss = slow();
  ss.waiters.erase(ss.waiters.iterator_to(w));
  ss.wait_ns += static_cast<uint64_t>(now - w.enqueued_at);
  if (status == Status::kTimedOut) ++ss.timeouts;
  if (status == Status::kCanceled) ++ss.cancelled;
  w.status = status;
  w.done = true;
  if (w.is_async()) {
    done.add(&w);
  } else {
    w.cv->notify_one();  // under the lock: the waiter's stack frame outlives this call
  }
}

Status LocalLimiter::wait_locked(std::unique_lock<std::mutex>& lock, Waiter& w, Completions& done) {
  while (!w.done) {
    const Nanos until = std::min(w.deadline, w.wake_at);
    if (until == kNever) {
      w.cv->wait(lock);
    } else {
      w.cv->wait_until(lock, to_time_point(until));
    }
    if (w.done) break;
    const Nanos now = monotonic_now();
    if (now >= w.wake_at) dispatch_locked(now, done);
    if (!w.done && now >= w.deadline) {
      log::logger().debug("acquire timed out after {} ns in line", now - w.enqueued_at);
      finish_waiter_locked(w, Status::kTimedOut, now, done);
      dispatch_locked(now, done);  // the next in line may fit where this one did not
    }
  }
  return w.status;
}

}  // namespace ptl::core
