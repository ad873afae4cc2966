// SPDX-License-Identifier: MIT
// The operations on one limiter block in the segment, shared by every handle (of any
// process) and by the agent threads. The state they keep is described in layout.hpp;
// the semantics are the local limiter's (src/core/local_limiter.hpp, ADR 1, 2 and 15):
// a waiter is granted room in every limit of the policy in one step, by whoever frees
// capacity, strictly in arrival order, and holds nothing while it waits.
//
// Unless noted, every function requires the limiter's lock (LimiterLock).
#pragma once

#include <cstdint>
#include <optional>

#include "core/config.hpp"
#include "core/limiter_backend.hpp"
#include "registry/shm/layout.hpp"
#include "registry/shm/policy_state.hpp"

namespace ptl::shm {

class Segment;

// How long a failed acquire waits before looking for dead holders again, and how often
// an agent looks while its process has waiters: the reclaim time after a death is at
// most kSweepPeriod plus a dispatch.
inline constexpr core::Nanos kSweepInterval = 10'000'000;  // 10 ms
inline constexpr core::Nanos kSweepPeriod = 250'000'000;   // 250 ms

// The limiter's robust lock, held for a scope. If the previous holder died, its derived
// state is rebuilt (repair_limiter) before anything else runs.
class LimiterLock {
 public:
  LimiterLock(Segment& seg, LimiterBlock& b);
  LimiterLock(const LimiterLock&) = delete;
  LimiterLock& operator=(const LimiterLock&) = delete;
  ~LimiterLock();

  void unlock();
  void relock();
  // The block still holds the limiter `uid` (not removed, not reused).
  bool live(uint64_t uid) const { return b_.uid.load(std::memory_order_relaxed) == uid; }

 private:
  Segment& seg_;
  LimiterBlock& b_;
  bool held_ = false;
};

// A waiter's place: its slot and the serial it was given.
struct Ticket {
  uint32_t index = 0;
  uint64_t serial = 0;
  Slot* slot = nullptr;
};

// The time if the limiter needs it to decide (a window, a penalty, an observation),
// else 0: the held-only path reads no clock.
core::Nanos clock_for(LimiterBlock& b);

// True if a grant of `d` fits now in every limit; else *retry_at = when time will allow
// one (kNever: only a release can).
bool reserve(Segment& seg, LimiterBlock& b, const UnitDemand& d, core::Nanos now,
             core::Nanos* retry_at);
// A permit for this process, after reserve() said yes. Throws StatusError(kNoMemory).
core::PermitId grant_new(Segment& seg, LimiterBlock& b, const UnitDemand& d, core::Nanos now);
// Puts this process's waiter at the end of the line. Throws StatusError(kNoMemory).
Ticket enqueue(Segment& seg, LimiterBlock& b, const UnitDemand& d, core::Nanos now, bool async);
// Grants waiters from the head while they fit; tells a head blocked by time when to
// look again; drops dead waiters; finishes with the error a waiter whose grant cannot
// be recorded (a full segment: kBackend).
void dispatch(Segment& seg, LimiterBlock& b, core::Nanos now);

enum class Outcome { kWaiting, kGranted, kFinished, kLost };
// What became of a waiter: kGranted (its permit is held), kFinished (*status says
// why; its slot is freed), kLost (its slot is no longer its own: *status kInternal).
Outcome outcome(const Ticket& t, core::Status* status);
// The waiter leaves the line (timeout, cancel, close) and the next may be granted;
// false if it was no longer waiting.
bool leave_queue(Segment& seg, LimiterBlock& b, const Ticket& t, core::Status why, core::Nanos now);
// A waiter whose owner gives up on it (its handle closed, its agent failed to serve
// it): it leaves the line, or gives back the permit it was granted and never got.
void withdraw(Segment& seg, LimiterBlock& b, const Ticket& t, core::Status why, core::Nanos now);
// Finishes every waiter whose demand exceeds a limit's max (after a policy change).
void finish_too_big(Segment& seg, LimiterBlock& b, core::Nanos now);
// The held slot of `permit`, or nullptr.
Slot* held_slot(Segment& seg, LimiterBlock& b, core::PermitId permit);
// Frees a held permit; false (and nothing changed) if `permit` is not held here.
// actual_cost: 0.1's release_cost, a settle of tokens unless they were settled already.
bool release_permit(Segment& seg, LimiterBlock& b, core::PermitId permit,
                    std::optional<uint64_t> actual_cost);

// Frees the slots of dead processes (permits, waiters); true if capacity was freed.
bool sweep(Segment& seg, LimiterBlock& b, core::Nanos now);
// After a failed acquire that only a release could help (retry_at kNever): sweeps if
// the limiter was not swept in the last kSweepInterval, then dispatches. True if the
// line or capacity changed.
bool maybe_sweep(Segment& seg, LimiterBlock& b, core::Nanos retry_at);
// Removal: wakes every sleeper, marks the block removed (uid 0), frees its memory.
void close_limiter(Segment& seg, LimiterBlock& b);
// Rebuilds the derived state after a holder of the lock died. Never throws.
void repair_limiter(Segment& seg, LimiterBlock& b) noexcept;

// Tells a waiter to look again: its futex, or its process's agent for an async one.
void notify(Segment& seg, Slot& s);

}  // namespace ptl::shm
