// SPDX-License-Identifier: MIT
// LocalLimiter: the in-process limiter, shared by the threads of one process.
//
// Two modes share one atomic word, state_:
//   fast mode: the policy is a requests-held limit (0.1's concurrency only), a window
//              of at most WindowRing::kMaxSlots requests, or both; nobody waiting, no
//              penalty, no observation. Acquire is a CAS on state_, a claim on the
//              window's ring (with a clock read) if there is a window, and a CAS on the
//              permit table; release is a CAS on the table and one RMW on state_. No lock.
//   slow mode: (kSlow set) anything else. Every acquire and release takes mutex_, so
//              the limits' state, the queue and in_flight move together and grants are
//              handed to waiters in order.
// In slow mode, in_flight = the count in state_ + slow_in_flight_delta_. Lock holders
// move only the delta (a plain integer: no atomic RMW under the lock); the count in
// state_ can still shrink, by a release that read fast mode just before the switch and
// then takes the lock to hand the capacity over. Leaving slow mode folds the delta back. Entering
// or leaving slow mode bumps a tag in state_, so a fast acquire that read max_concurrent before a
// reconfigure cannot succeed after it.
//
// In fast mode the window's grant times live in ring_ (claimed without the lock); in slow
// mode in the limit's SlidingWindow. Entering slow mode closes the ring and moves its
// times into the log; leaving it loads them back, and only when the window has room
// (a full window would send every fast acquire straight back to the lock).
//
// The requests-held limit counts held permits (in_flight) plus requests_adjust, the sum
// of (requests charged - 1) over held permits, so a demand of 0 or 3 requests counts as
// asked; every other limit keeps its own state in SlowState::limits (ADR 15).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/grant_book.hpp"
#include "core/limiter_backend.hpp"
#include "core/observed_caps.hpp"
#include "core/permit_table.hpp"
#include "core/sliding_window.hpp"
#include "core/thread_annotations.hpp"
#include "core/waiter_queue.hpp"
#include "core/window_ring.hpp"

namespace ptl::core {

class LocalLimiter final : public LimiterBackend {
 public:
  // policy must be valid (PolicySpec::validate). The limiter reads time from clock and waits
  // by it (timeouts, windows, penalties); clock must outlive the limiter.
  explicit LocalLimiter(const PolicySpec& policy, const Clock& clock = steady_clock());
  explicit LocalLimiter(const BasicConfig& config)
      : LocalLimiter(PolicySpec::from_config(config)) {}
  ~LocalLimiter() override;

  Status acquire(const Demand& demand, Nanos timeout_ns, PermitId* out) override;
  Status try_acquire(const Demand& demand, PermitId* out, Nanos* retry_after_ns) override;
  void release(PermitId permit, std::optional<uint64_t> actual_cost) override;
  void acquire_async(const Demand& demand, Nanos timeout_ns, AcquireCallback cb,
                     uint64_t* ticket) override;
  Status cancel(uint64_t ticket) override;
  void settle(PermitId permit, const Demand& actual) override;
  void observe(std::string_view unit, uint64_t remaining, Nanos reset_after_ns) override;
  void penalize(Nanos retry_after_ns) override;
  void set_policy(const PolicySpec& policy) override;
  PolicySpec policy() override;
  LimitUsage usage(std::string_view unit, Nanos window_ns) override;
  StatsSnapshot stats() override;

 protected:
  void close() override;

 private:
  // One limit's own state, parallel to policy_.limits (the requests-held limit counts
  // in_flight instead of `held`).
  struct LimitState {
    uint64_t held = 0;
    std::unique_ptr<SlidingWindow> log;  // windowed limits only
  };
  // A unit's observations, and the index of a limit of that unit (for its charge).
  struct UnitCaps {
    std::string unit;
    size_t limit = 0;
    ObservedCaps caps;
  };
  // What only slow mode needs, allocated on first use so an idle limiter stays small.
  struct SlowState {
    WaiterQueue waiters;
    std::vector<LimitState> limits;
    std::vector<UnitCaps> caps;
    GrantBook grants;
    Charges default_charges;  // of a demand that names no unit, under policy_
    // The window's rings (back: the current one; see ring_).
    std::vector<std::unique_ptr<WindowRing>> rings;
    // Slow-path acquires in a row that the ring could have served; the ring reopens only
    // after enough of them (ring_reopen_streak), so a mix of other demands cannot make
    // every call pay for moving the window between the ring and the log.
    uint64_t ring_eligible_streak = 0;
    int64_t requests_adjust = 0;
    Nanos penalty_until = 0;
    Nanos timer_at = kNever;  // earliest timer still pending for this limiter
    bool closed = false;      // no user reference left; only pending timers hold it
    uint64_t timeouts = 0;
    uint64_t cancelled = 0;
    uint64_t wait_ns = 0;
  };
  enum class FastResult { kGranted, kFull, kWindowFull, kSlowMode };

  // Whether `demand` charges what the default demand does (one request): no unit named,
  // or only the tokens of a 0.1 acquire_cost that the policy has no limit of.
  bool ring_eligible(const Demand& demand) const {
    return demand.n == 0 ||
           (demand.n == 1 && demand.lenient_tokens && demand.amounts[0].unit == kTokens &&
            !policy_has_tokens_.load(std::memory_order_relaxed));
  }

  // kWindowFull sets *retry_after_ns (if not null) to when the window has room.
  FastResult try_fast(PermitId* out, Nanos* retry_after_ns = nullptr);
  [[noreturn]] void throw_bad_permit(PermitId permit);
  void release_slow(PermitId permit, std::optional<uint64_t> actual_cost);
  // Installs `policy`, carrying the state of the limits that stay; returns the old one.
  PolicySpec apply_policy_locked(const PolicySpec& policy) PTL_REQUIRES(mutex_);
  void give_back_reservation() PTL_EXCLUDES(mutex_);
  void wake_after_release() PTL_EXCLUDES(mutex_);

  // --- all below require mutex_ held ---
  SlowState& slow() PTL_REQUIRES(mutex_) {
    if (!slow_) make_slow_locked();
    return *slow_;
  }
  void make_slow_locked() PTL_REQUIRES(mutex_);
  // The demand's charges under policy_; a demand naming no unit (most) costs no lookup.
  Charges charges_locked(const Demand& demand) PTL_REQUIRES(mutex_) {
    SlowState& ss = slow();
    if (ring_eligible(demand)) {
      ++ss.ring_eligible_streak;
      return ss.default_charges;
    }
    ss.ring_eligible_streak = 0;
    return resolve_charges(*policy_, ss.default_charges, demand.amounts, demand.n,
                           demand.lenient_tokens);
  }
  void enter_slow_locked() PTL_REQUIRES(mutex_);
  void leave_slow_if_idle_locked(Nanos now) PTL_REQUIRES(mutex_);
  // Closes the window's ring and moves its times into the limit's log (slow mode).
  void fold_ring_locked() PTL_REQUIRES(mutex_);
  // Loads the log into the ring and opens it; false if the window has no room.
  bool open_ring_locked(Nanos now) PTL_REQUIRES(mutex_);
  uint32_t in_flight() const PTL_REQUIRES(mutex_);  // exact under mutex_
  uint64_t held_locked(size_t limit) const PTL_REQUIRES(mutex_);
  // Reserves room in every limit if the windows, observations and any penalty allow a
  // grant of `c` now; else *retry_at = when time will allow it (kNever: only a release
  // can).
  bool reserve_locked(const Charges& c, Nanos now, Nanos* retry_at) PTL_REQUIRES(mutex_);
  void unreserve_locked(const Charges& c) PTL_REQUIRES(mutex_);
  // The first step of every slow-path acquire: resolves the demand, enters slow mode and
  // grants at once if nobody is queued and there is room. kOk (or kNoMemory) if it
  // granted; else kAgain with *retry_at as reserve_locked gives it (kNever if queued).
  Status start_acquire_locked(const Charges& c, PermitId* out, Nanos* now, Nanos* retry_at)
      PTL_REQUIRES(mutex_);
  // Turns a reservation into a permit and records it in the windows and observations.
  Status grant_locked(const Charges& c, Nanos now, PermitId* out) PTL_REQUIRES(mutex_);
  // The settle of one unit on a grant's record; `held` if the permit is still held.
  void settle_unit_locked(GrantRecord& r, std::string_view unit, uint64_t actual, bool held)
      PTL_REQUIRES(mutex_);
  void forget_settled_locked(Nanos now) PTL_REQUIRES(mutex_);
  UnitCaps* caps_of_locked(std::string_view unit) PTL_REQUIRES(mutex_);
  void dispatch_locked(Nanos now, Completions& done) PTL_REQUIRES(mutex_);
  void after_release_locked(Completions& done) PTL_REQUIRES(mutex_);
  void finish_waiter_locked(Waiter& w, Status status, Nanos now, Completions& done)
      PTL_REQUIRES(mutex_);
  Status wait_locked(UniqueLock& lock, Waiter& w, Completions& done) PTL_REQUIRES(mutex_);
  void schedule_timer_locked(Nanos at) PTL_REQUIRES(mutex_);
  void on_timer() PTL_EXCLUDES(mutex_);

  // Layout: what every fast operation only reads comes first, what it writes (state_)
  // last, more than a cache line apart, so one thread's CAS does not evict the fields
  // the other thread is about to read.
  std::atomic<uint32_t> max_concurrent_;
  // The window's ring while the policy can use one (see window_fast_), else null. Set
  // under mutex_ in slow mode; the rings it pointed at live as long as the limiter, since
  // an acquire that read the pointer before a reconfigure may still claim on (and fail).
  std::atomic<WindowRing*> ring_{nullptr};
  PermitTable permits_;
  Mutex mutex_;
  const Clock* clock_;  // never null; read on slow paths only
  // Never null. Shared with every limiter of an equal policy (a
  // million idle limiters of one config hold one copy).
  std::shared_ptr<const PolicySpec> policy_ PTL_GUARDED_BY(mutex_);
  int requests_held_ PTL_GUARDED_BY(mutex_) = -1;    // index of that limit, or -1
  bool always_slow_ PTL_GUARDED_BY(mutex_) = false;  // a limit fast mode cannot serve
  int8_t window_fast_ PTL_GUARDED_BY(mutex_) = -1;   // index of the ring's limit, or -1
  std::atomic<bool> policy_has_tokens_{false};       // read by ring_eligible without the lock
  std::unique_ptr<SlowState> slow_ PTL_GUARDED_BY(mutex_) PTL_PT_GUARDED_BY(mutex_);
  int64_t slow_in_flight_delta_ PTL_GUARDED_BY(mutex_) = 0;  // 0 in fast mode
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> state_{0};
};

}  // namespace ptl::core
