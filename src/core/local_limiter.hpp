// LocalLimiter: the in-process limiter, shared by the threads of one process.
//
// Two modes share one atomic word, state_:
//   fast mode: concurrency limit only, nobody waiting, no penalty. Acquire and release
//              are a CAS on state_ plus a CAS on the permit table; no lock, no clock.
//   slow mode: (kSlow set) a window, a waiter or a penalty exists. Every acquire and
//              release takes mutex_, so the window log, the queue and in_flight move
//              together and grants are handed to waiters in order.
// In slow mode, in_flight = the count in state_ + slow_in_flight_delta_. Lock holders
// move only the delta (a plain integer: no atomic RMW under the lock); the count in
// state_ can still shrink, by a release that read fast mode just before the switch and
// then takes the lock to hand the capacity over. Leaving slow mode folds the delta back. Entering
// or leaving slow mode bumps a tag in state_, so a fast acquire that read max_concurrent before a
// reconfigure cannot succeed after it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/limiter.hpp"
#include "core/permit_table.hpp"
#include "core/sliding_window.hpp"
#include "core/waiter_queue.hpp"

namespace ptl::core {

class LocalLimiter final : public Limiter {
 public:
  // config must be valid (LimiterConfig::validate).
  explicit LocalLimiter(const LimiterConfig& config);
  ~LocalLimiter() override;

  Status acquire(uint64_t cost, Nanos timeout_ns, Permit* out) override;
  Status try_acquire(uint64_t cost, Permit* out, Nanos* retry_after_ns) override;
  void release(Permit permit, std::optional<uint64_t> actual_cost) override;
  void acquire_async(uint64_t cost, Nanos timeout_ns, AcquireCallback cb,
                     uint64_t* ticket) override;
  Status cancel(uint64_t ticket) override;
  void penalize(Nanos retry_after_ns) override;
  void reconfigure(const LimiterConfig& config) override;
  LimiterConfig config() override;
  LimiterStats stats() override;

 protected:
  void close() override;

 private:
  // What only slow mode needs, allocated on first use so an idle limiter stays small.
  struct SlowState {
    WaiterQueue waiters;
    std::unique_ptr<SlidingWindow> window;  // kept once made, so entry ids never repeat
    Nanos penalty_until = 0;
    Nanos timer_at = kNever;  // earliest timer still pending for this limiter
    bool closed = false;      // no user reference left; only pending timers hold it
    uint64_t timeouts = 0;
    uint64_t cancelled = 0;
    uint64_t wait_ns = 0;
  };
  enum class FastResult { kGranted, kFull, kSlowMode };

  FastResult try_fast(Permit* out);
  [[noreturn]] void throw_bad_permit(Permit permit);
  void release_slow(Permit permit, std::optional<uint64_t> actual_cost);
  void give_back_reservation();

  // --- all below require mutex_ held ---
  SlowState& slow();
  void enter_slow_locked();
  void leave_slow_if_idle_locked(Nanos now);
  uint32_t in_flight() const;  // exact under mutex_
  void wake_after_release();
  // Reserves one concurrency slot if the window, the cost and any penalty allow a grant
  // of `cost` now; else *retry_at = when time will allow it (kNever: only a release can).
  bool reserve_locked(uint64_t cost, Nanos now, Nanos* retry_at);
  // The first step of every slow-path acquire: checks the cost, enters slow mode and
  // grants at once if nobody is queued and there is room. kOk (or kNoMemory) if it
  // granted; else kAgain with *retry_at as reserve_locked gives it (kNever if queued).
  Status start_acquire_locked(uint64_t cost, Permit* out, Nanos* now, Nanos* retry_at);
  // Turns a reservation into a permit and records it in the window.
  Status grant_locked(uint64_t cost, Nanos now, Permit* out);
  void dispatch_locked(Nanos now, Completions& done);
  void after_release_locked(Completions& done);
  void finish_waiter_locked(Waiter& w, Status status, Nanos now, Completions& done);
  Status wait_locked(std::unique_lock<std::mutex>& lock, Waiter& w, Completions& done);
  void schedule_timer_locked(Nanos at);
  void on_timer();

  // Layout: what every fast operation only reads comes first, what it writes (state_)
  // last, more than a cache line apart, so one thread's CAS does not evict the fields
  // the other thread is about to read.
  std::atomic<uint32_t> max_concurrent_;
  PermitTable permits_;
  std::mutex mutex_;
  LimiterConfig config_;              // guarded by mutex_
  Nanos window_ns_;                   // guarded by mutex_; config_.window_ns(), cached
  std::unique_ptr<SlowState> slow_;   // guarded by mutex_
  int64_t slow_in_flight_delta_ = 0;  // guarded by mutex_; 0 in fast mode
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> state_{0};
};

}  // namespace ptl::core
