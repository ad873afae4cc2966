// SPDX-License-Identifier: MIT
// WindowRing: the grant times of one "at most M requests per window" limit, claimed
// without a lock (ADR 22).
//
// The ring holds the times of the last M grants, in claim order. A grant is admissible
// at time T exactly when the M-th newest grant is older than the window (it counts over
// the closed interval [T - window, T], as in SlidingWindow), so one claim reads one slot
// and moves one counter: `head_` is the number of claims ever made, and claim p writes
// slot p % M. Every slot carries the number of the claim it holds (`seq`, p + 1), so a
// reader can tell a published time from one a claimer is still about to write.
//
// A claim checks with a clock reading taken before its CAS (a lower bound of the moment
// it takes effect; the coarse clock first) and records one taken after it (an upper
// bound). So the M-th newest grant really is older than the window when the next one is
// made, even if the claimer was preempted between its reading and its CAS, and a grant
// stays recorded at least as long as it really counts.
//
// The owner (LocalLimiter, under its lock) closes the ring when it needs the exact state
// (a waiter, a settle, a reconfigure): claims then fail, close() waits for the ones in
// flight to publish, and the times move into the locked path's SlidingWindow. open()
// loads them back when the locked path has nothing left to do.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/clock.hpp"

namespace ptl::core {

class WindowRing {
 public:
  // Larger windows use the locked path: a slot is 16 bytes, so the ring of a limiter
  // stays within 64 KiB however large its max.
  static constexpr uint64_t kMaxSlots = 4096;
  // A slot that never held a grant.
  static constexpr Nanos kEmpty = std::numeric_limits<Nanos>::min();

  enum class Claim {
    kGranted,  // *at = the time recorded (clock.now() after the claim)
    kFull,     // the window holds max grants; *at = when the oldest one leaves it
    kClosed,   // the owner closed the ring: use the locked path
    kBusy,     // a claim just before this one has not published its time yet
  };

  // A closed ring able to hold up to `capacity` (<= kMaxSlots) grants per window.
  explicit WindowRing(uint64_t capacity);
  WindowRing(const WindowRing&) = delete;
  WindowRing& operator=(const WindowRing&) = delete;

  uint64_t capacity() const { return capacity_; }

  // Claims one grant now, by `clock`, if the window allows it. Lock-free; any thread.
  Claim try_claim(const Clock& clock, Nanos* at);

  // --- the owner's side, serialized by its lock ---

  // Starts claims for a limit of `max` (<= capacity) per `window_ns`, the ring holding
  // `times` (non-decreasing, at most max of them: the newest grants of that limit).
  void open(uint64_t max, Nanos window_ns, const std::vector<Nanos>& times);
  // Stops claims and returns once every claim made has published its time. Then
  // times() is exact until the next open().
  void close();
  bool is_open() const { return (head_.load(std::memory_order_acquire) & kClosedBit) == 0; }
  // The times the ring holds in claim order, each raised to the newest before it (so
  // they never go back), empty slots left out. After close().
  std::vector<Nanos> times() const;

 private:
  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;

  struct Slot {
    std::atomic<uint64_t> seq{0};  // claim number + 1 of the time held; 0 = none yet
    std::atomic<Nanos> time{kEmpty};
  };

  const Slot& slot_of(uint64_t claim) const { return slots_[claim % max_.load(kRelaxed)]; }
  Slot& slot_of(uint64_t claim) { return slots_[claim % max_.load(kRelaxed)]; }

  static constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

  const uint64_t capacity_;
  std::unique_ptr<Slot[]> slots_;
  // Read by claimers without the lock, written by the owner only while the ring is
  // closed; a claimer that read an old value fails its CAS on head_ (head_ only grows).
  std::atomic<uint64_t> max_{1};
  std::atomic<Nanos> window_{0};
  // Claims made so far (never decreases), and kClosedBit while closed. Its own cache
  // line: every claim writes it.
  alignas(64) std::atomic<uint64_t> head_{kClosedBit};
};

}  // namespace ptl::core
