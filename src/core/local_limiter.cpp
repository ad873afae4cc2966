// SPDX-License-Identifier: MIT
#include "core/local_limiter.hpp"

#include <algorithm>
#include <bit>
#include <string>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"

namespace ptl::core {
namespace {

constexpr uint64_t kInFlightMask = 0xffffffffu;
constexpr uint64_t kTagUnit = uint64_t{1} << 32;
constexpr uint64_t kTagMask = 0x7fffffffu * kTagUnit;
constexpr uint64_t kSlow = uint64_t{1} << 63;
// At least this many acquires the ring could serve before it reopens (see open_ring_locked).
constexpr uint64_t kRingReopenMinStreak = 8;

// The same word with kSlow set or cleared and the tag advanced.
uint64_t with_mode(uint64_t s, bool slow) {
  const uint64_t tag = ((s & kTagMask) + kTagUnit) & kTagMask;
  return (s & kInFlightMask) | tag | (slow ? kSlow : 0);
}

}  // namespace

LocalLimiter::LocalLimiter(const PolicySpec& policy, const Clock& clock)
    : max_concurrent_(0), clock_(&clock) {
  MutexLock lock(mutex_);
  apply_policy_locked(policy);
  // A windowed limiter starts slow: its ring is allocated when it first leaves slow
  // mode, so a limiter registered and never used costs no ring.
  if (always_slow_ || window_fast_ >= 0) enter_slow_locked();
}

LocalLimiter::~LocalLimiter() = default;

void LocalLimiter::close() {
  // Nobody else can reach the limiter now, so no thread waits synchronously on it;
  // asynchronous waiters are told it is gone.
  Completions done;
  MutexLock lock(mutex_);
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

LocalLimiter::FastResult LocalLimiter::try_fast(PermitId* out, Nanos* retry_after_ns) {
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
  // The held slot first, then the window: a window claim cannot be taken back, a slot
  // can. Acquire pairs with the release that published the ring before fast mode began.
  if (WindowRing* ring = ring_.load(std::memory_order_acquire)) {
    Nanos at = 0;
    const WindowRing::Claim claim = ring->try_claim(*clock_, &at);
    if (claim != WindowRing::Claim::kGranted) {
      give_back_reservation();
      if (claim != WindowRing::Claim::kFull) return FastResult::kSlowMode;
      if (retry_after_ns != nullptr) *retry_after_ns = std::max<Nanos>(at - clock_->now(), 0);
      return FastResult::kWindowFull;
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

Status LocalLimiter::acquire(const Demand& demand, Nanos timeout_ns, PermitId* out) {
  if (ring_eligible(demand) && try_fast(out) == FastResult::kGranted) return Status::kOk;
  Completions done;
  UniqueLock lock(mutex_);
  const Charges charges = charges_locked(demand);
  Nanos now, retry_at;
  const Status st = start_acquire_locked(charges, out, &now, &retry_at);
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
  w.charges = charges;
  w.cv = &cv;
  w.enqueued_at = now;
  w.deadline = deadline_after(now, timeout_ns);
  slow().waiters.push_back(w);
  dispatch_locked(now, done);  // computes the new head's wake-up time
  const Status waited = wait_locked(lock, w, done);
  if (waited == Status::kOk) *out = w.permit;
  return waited;
}

Status LocalLimiter::try_acquire(const Demand& demand, PermitId* out, Nanos* retry_after_ns) {
  if (ring_eligible(demand)) {
    Nanos window_retry = 0;
    const FastResult fast = try_fast(out, &window_retry);
    if (fast == FastResult::kGranted) return Status::kOk;
    if (fast == FastResult::kFull || fast == FastResult::kWindowFull) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      if (retry_after_ns != nullptr) {
        *retry_after_ns = fast == FastResult::kFull ? -1 : window_retry;
      }
      return Status::kAgain;
    }
  }
  MutexLock lock(mutex_);
  const Charges charges = charges_locked(demand);
  Nanos now, retry_at;
  const Status st = start_acquire_locked(charges, out, &now, &retry_at);
  if (st == Status::kAgain) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    if (retry_after_ns != nullptr) *retry_after_ns = retry_at == kNever ? -1 : retry_at - now;
  }
  leave_slow_if_idle_locked(now);
  return st;
}

void LocalLimiter::release(PermitId permit, std::optional<uint64_t> actual_cost) {
  uint64_t s = state_.load(std::memory_order_acquire);
  if (s & kSlow) return release_slow(permit, actual_cost);
  // Fast mode has no window, so there is no cost to correct.
  if (!permits_.retire(permit)) throw_bad_permit(permit);
  // One unconditional RMW, no CAS loop: two releasing threads never retry.
  if (state_.fetch_sub(1, std::memory_order_acq_rel) & kSlow) wake_after_release();
}

void LocalLimiter::throw_bad_permit(PermitId permit) {
  log::logger().warn("release of permit {} that is not held (double release?)", permit);
  fail(Status::kInvalid, "permit " + std::to_string(permit) +
                             " is not held on this limiter (already released, or another "
                             "limiter's)");
}

// ---- slow mode ------------------------------------------------------------------------

void LocalLimiter::release_slow(PermitId permit, std::optional<uint64_t> actual_cost) {
  Completions done;
  MutexLock lock(mutex_);
  enter_slow_locked();  // a reconfigure may have left slow mode since the caller looked
  const uint32_t slot = static_cast<uint32_t>(permit & PermitTable::kSlotMask);
  if (permits_.find(permit) == nullptr || !permits_.retire(permit)) {
    leave_slow_if_idle_locked(clock_->now());
    throw_bad_permit(permit);
  }
  SlowState& ss = slow();
  if (GrantRecord* r = ss.grants.held(permit, slot)) {
    // 0.1's release_cost: settles tokens unless they were settled already.
    if (actual_cost && policy_->has_unit(kTokens) && !r->settled_unit(*policy_, kTokens)) {
      settle_unit_locked(*r, kTokens, *actual_cost, true);
    }
    bool unsettled_window = false;
    for (size_t i = 0; i < policy_->limits.size(); ++i) {
      const LimitSpec& l = policy_->limits[i];
      if (l.held()) {
        if (static_cast<int>(i) == requests_held_) {
          ss.requests_adjust -= static_cast<int64_t>(r->charges.amount[i]) - 1;
        } else {
          ss.limits[i].held -= std::min(ss.limits[i].held, r->charges.amount[i]);
        }
      } else if (!(r->settled >> i & 1u) && l.unit != kRequests) {
        // Kept for a settle after the release; requests are counted, not estimated, so a
        // grant of requests alone is not worth remembering.
        unsettled_window = true;
      }
    }
    ss.grants.close(permit, slot, unsettled_window);
  }
  --slow_in_flight_delta_;
  after_release_locked(done);
}

void LocalLimiter::give_back_reservation() {
  if (state_.fetch_sub(1, std::memory_order_acq_rel) & kSlow) wake_after_release();
}

void LocalLimiter::wake_after_release() {
  Completions done;
  MutexLock lock(mutex_);
  after_release_locked(done);
}

void LocalLimiter::after_release_locked(Completions& done) {
  // A windowed limiter with nobody waiting has nothing to hand over and stays slow:
  // skip the clock read, the most expensive step of a release.
  const SlowState& ss = slow();
  if (ss.waiters.empty() && always_slow_) return;
  dispatch_locked(clock_->now(), done);
}

void LocalLimiter::make_slow_locked() {
  auto ss = std::make_unique<SlowState>();
  ss->limits.resize(policy_->limits.size());
  for (size_t i = 0; i < policy_->limits.size(); ++i) {
    if (!policy_->limits[i].held()) ss->limits[i].log = std::make_unique<SlidingWindow>();
  }
  ss->default_charges = resolve_charges(*policy_, nullptr, 0);
  // A new limiter's first acquires may use the ring at once.
  ss->ring_eligible_streak = UINT64_MAX / 2;
  slow_ = std::move(ss);
}

void LocalLimiter::enter_slow_locked() {
  uint64_t s = state_.load(std::memory_order_acquire);
  while (!(s & kSlow) &&
         !state_.compare_exchange_weak(s, with_mode(s, true), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
  }
  fold_ring_locked();
}

void LocalLimiter::fold_ring_locked() {
  WindowRing* ring = ring_.load(std::memory_order_relaxed);
  if (ring == nullptr || !ring->is_open()) return;
  ring->close();  // from here on, claims fail and go to the lock
  const LimitSpec& l = policy_->limits[static_cast<size_t>(window_fast_)];
  SlidingWindow& log = *slow().limits[static_cast<size_t>(window_fast_)].log;
  log.clear();  // the ring held every grant since the log was loaded into it
  for (const Nanos t : ring->times()) log.record(t, l.window_ns, 1);
}

bool LocalLimiter::open_ring_locked(Nanos now) {
  const LimitSpec& l = policy_->limits[static_cast<size_t>(window_fast_)];
  SlidingWindow& log = *slow().limits[static_cast<size_t>(window_fast_)].log;
  log.evict(now, l.window_ns);
  if (log.sum() >= l.max) return false;
  SlowState& ss = slow();
  // Moving the window costs O(max) each way: only after enough acquires the ring could
  // have served, so that others in between cost little per call.
  if (ss.ring_eligible_streak < std::max<uint64_t>(kRingReopenMinStreak, l.max / 8)) {
    return false;
  }
  if (ss.rings.empty() || ss.rings.back()->capacity() < l.max) {
    // Rounded up, so that a policy growing step by step reallocates a few times only.
    ss.rings.push_back(std::make_unique<WindowRing>(std::bit_ceil(l.max)));
  }
  std::vector<Nanos> times;
  times.reserve(static_cast<size_t>(log.sum()));
  log.for_each([&](Nanos t, uint64_t amount) { times.insert(times.end(), amount, t); });
  WindowRing* ring = ss.rings.back().get();
  ring->open(l.max, l.window_ns, times);
  log.clear();
  ring_.store(ring, std::memory_order_release);
  return true;
}

void LocalLimiter::leave_slow_if_idle_locked(Nanos now) {
  SlowState& ss = slow();
  if (!ss.waiters.empty() || always_slow_ || ss.penalty_until > now || ss.requests_adjust != 0) {
    return;
  }
  for (UnitCaps& uc : ss.caps) {
    uc.caps.evict(now);
    if (!uc.caps.empty()) return;
  }
  if (window_fast_ >= 0) {
    // In fast mode the ring is open already (and the log empty): nothing to load.
    const WindowRing* ring = ring_.load(std::memory_order_relaxed);
    if ((ring == nullptr || !ring->is_open()) && !open_ring_locked(now)) return;
  }
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

uint64_t LocalLimiter::held_locked(size_t limit) const {
  if (static_cast<int>(limit) != requests_held_) return slow_->limits[limit].held;
  const int64_t held = static_cast<int64_t>(in_flight()) + slow_->requests_adjust;
  return held < 0 ? 0 : static_cast<uint64_t>(held);
}

bool LocalLimiter::reserve_locked(const Charges& c, Nanos now, Nanos* retry_at) {
  SlowState& ss = slow();
  Nanos fit = std::max(now, ss.penalty_until);
  const size_t n = policy_->limits.size();
  for (size_t i = 0; i < n; ++i) {
    const LimitSpec& l = policy_->limits[i];
    if (l.held()) continue;
    SlidingWindow& log = *ss.limits[i].log;
    log.evict(now, l.window_ns);
    fit = std::max(fit, log.earliest_fit(now, l.window_ns, l.max, c.amount[i]));
  }
  for (UnitCaps& uc : ss.caps) {
    uc.caps.evict(now);
    fit = std::max(fit, uc.caps.earliest_fit(now, c.amount[uc.limit]));
  }
  if (fit > now) {
    *retry_at = fit;
    return false;
  }
  *retry_at = kNever;
  for (size_t i = 0; i < n; ++i) {
    const LimitSpec& l = policy_->limits[i];
    if (l.held() && c.amount[i] > l.max - std::min(l.max, held_locked(i))) return false;
  }
  // A permit always counts in in_flight; concurrency beyond 2^32 cannot be counted.
  if (requests_held_ < 0 && in_flight() == UINT32_MAX) return false;
  ++slow_in_flight_delta_;
  for (size_t i = 0; i < n; ++i) {
    if (!policy_->limits[i].held()) continue;
    if (static_cast<int>(i) == requests_held_) {
      ss.requests_adjust += static_cast<int64_t>(c.amount[i]) - 1;
    } else {
      ss.limits[i].held += c.amount[i];
    }
  }
  return true;
}

void LocalLimiter::unreserve_locked(const Charges& c) {
  SlowState& ss = slow();
  --slow_in_flight_delta_;
  for (size_t i = 0; i < policy_->limits.size(); ++i) {
    if (!policy_->limits[i].held()) continue;
    if (static_cast<int>(i) == requests_held_) {
      ss.requests_adjust -= static_cast<int64_t>(c.amount[i]) - 1;
    } else {
      ss.limits[i].held -= c.amount[i];
    }
  }
}

Status LocalLimiter::start_acquire_locked(const Charges& c, PermitId* out, Nanos* now,
                                          Nanos* retry_at) {
  enter_slow_locked();
  *now = clock_->now();
  if (!slow().waiters.empty()) {
    *retry_at = kNever;  // behind the queue: no time can be told
    return Status::kAgain;
  }
  if (!reserve_locked(c, *now, retry_at)) return Status::kAgain;
  return grant_locked(c, *now, out);
}

Status LocalLimiter::grant_locked(const Charges& c, Nanos now, PermitId* out) {
  SlowState& ss = slow();
  PermitId permit;
  try {
    permit = permits_.issue(in_flight());
    GrantRecord& r =
        ss.grants.open(permit, static_cast<uint32_t>(permit & PermitTable::kSlotMask), c, now);
    for (size_t i = 0; i < policy_->limits.size(); ++i) {
      const LimitSpec& l = policy_->limits[i];
      if (!l.held()) r.entry[i] = ss.limits[i].log->record(now, l.window_ns, c.amount[i]);
    }
  } catch (const StatusError&) {
    unreserve_locked(c);
    return Status::kNoMemory;
  } catch (const std::bad_alloc&) {
    unreserve_locked(c);
    return Status::kNoMemory;
  }
  for (UnitCaps& uc : ss.caps) uc.caps.charge(c.amount[uc.limit]);
  *out = permit;
  return Status::kOk;
}

void LocalLimiter::dispatch_locked(Nanos now, Completions& done) {
  SlowState& ss = slow();
  while (!ss.waiters.empty()) {
    Waiter& w = ss.waiters.front();
    Nanos retry_at;
    if (!reserve_locked(w.charges, now, &retry_at)) {
      if (w.wake_at != retry_at) {
        w.wake_at = retry_at;
        if (!w.is_async()) w.cv->notify_one();  // it sleeps until wake_at itself
      }
      if (w.is_async() && retry_at != kNever) schedule_timer_locked(retry_at);
      break;
    }
    const Status st = grant_locked(w.charges, now, &w.permit);
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

Status LocalLimiter::wait_locked(UniqueLock& lock, Waiter& w, Completions& done) {
  while (!w.done) {
    clock_->wait_until(*w.cv, lock.native(), std::min(w.deadline, w.wake_at));
    if (w.done) break;
    const Nanos now = clock_->now();
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
