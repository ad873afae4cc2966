// The sliding-window log of one shm limiter: a ring of (time, cost) entries in the
// segment, with the same strict semantics as core::SlidingWindow (an entry granted at t
// counts for every grant at T with T - window <= t: a closed interval).
//
// Entries are numbered by sequence: ring_begin..ring_end, entry s at s % capacity. A
// record is written, then published by one store of ring_end; a grown ring is filled,
// then published by one store of the limiter's `ring`. The cost sum is derived.
//
// Bounded space: the ring grows with the traffic, by doubling, up to max_per_window
// entries (a count-limited window never holds more) and at most kMaxWindowEntries
// (8,388,608 entries, 128 MiB). Any config is accepted, as by the local backend; memory
// follows the grants actually made inside one window. If the ring cannot grow (that
// bound, or a full segment) a grant waits for the oldest entry to leave, with a warning:
// the limiter then admits less than its limits, never more (ADR 8). The first ring is
// made when the limiter gets its window (window_prepare), so that a full segment fails
// the register or reconfigure that asked for the window; a limiter still without one
// (its ring was unreadable and reset) gets it at its next grant, whose error a full
// segment then is: there is no oldest entry to wait for.
//
// Every function requires the limiter's lock.
#pragma once

#include <cstdint>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

inline bool has_window(const LimiterBlock& b) {
  return b.max_per_window != 0 || b.max_cost_per_window != 0;
}
inline uint64_t window_count(const LimiterBlock& b) {
  return b.ring_end - b.ring_begin;
}

// Drops the entries that no longer count at `now`.
void window_evict(Segment& seg, LimiterBlock& b, core::Nanos now);

// Gives the limiter its first ring if `config` (the one it is about to get) has a window
// and it has no ring yet. Throws Error(kBackend), naming the segment and the size, if
// the segment is full; nothing is changed then.
void window_prepare(Segment& seg, LimiterBlock& b, const core::LimiterConfig& config);

// The earliest time >= now at which a grant of `cost` fits; call after window_evict.
// When it is `now`, the ring has room to record the grant (grown if needed). Throws
// Error(kBackend) if the limiter has no ring and the segment no room for one.
core::Nanos window_earliest_fit(Segment& seg, LimiterBlock& b, core::Nanos now, uint64_t cost);

// Records a grant at `now` (room ensured by window_earliest_fit); returns its id (> 0).
uint64_t window_record(Segment& seg, LimiterBlock& b, core::Nanos now, uint64_t cost);

// Sets entry `id`'s cost to actual_cost if it still counts.
void window_correct(Segment& seg, LimiterBlock& b, uint64_t id, uint64_t actual_cost);

// After a holder died: checks the ring and recomputes the cost sum. Never throws.
void window_repair(Segment& seg, LimiterBlock& b) noexcept;

// Gives the ring back to the arena (the limiter is being removed).
void window_free(Segment& seg, LimiterBlock& b);

}  // namespace ptl::shm
