// SPDX-License-Identifier: MIT
// The sliding-window log of one windowed limit of an shm limiter: a ring of
// (time, amount) entries in the segment with core::SlidingWindow's semantics (ADR 15):
// strict over the closed interval [T - window, T], and a grant less than window / 1024
// after the newest entry was opened (LimitRecord::opened, its first grant's time)
// coalesces into it. The entry takes the grant's time, so it never leaves early, and
// spans less than window / 1024, so no grant in it leaves that late or later.
//
// Entries are numbered by sequence: log_begin..log_end, entry s at s % capacity; an
// entry's id is its sequence + 1 (0: none). A new entry is written, then published by
// one store of log_end; a grown log is filled, then published by one store of `log`,
// which carries its capacity (16 << k) in its low bits. The sum is derived.
//
// Bounded whatever the rate: coalescing opens entries at least window / 1024 apart, and
// every entry but the oldest one counted was opened after that one's last grant, so a
// window holds at most 1025 of them; the log grows by doubling, as the traffic needs,
// from 16 up to kMaxLogEntries (1024, 16 KiB). A grant that needs one more entry than
// the log can hold (that bound, or a full segment) waits until the oldest entry leaves:
// at 1024 entries that is at most window / 1024 ns (the oldest's last grant came before
// the second entry was opened, at least 1023 * window / 1024 before the grant), and the
// limiter admits less than its limits, never more (ADR 8). A limit's first log is made
// with the limit (policy_state.hpp), so that a full segment fails the register or
// set_policy that asked for it; a limit still without one (repair dropped an unreadable
// log) gets it at its next grant, whose error a full segment then is: there is no
// oldest entry to wait for.
//
// Every function requires the limiter's lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/clock.hpp"
#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

inline uint64_t log_capacity(const LimitRecord& l) {
  return l.log == 0 ? 0 : kFirstLogEntries << (l.log & kLogShiftMask);
}
inline uint64_t log_count(const LimitRecord& l) {
  return l.log_end - l.log_begin;
}

// A new, empty log's `log` word (offset | k) of the first capacity. Throws
// StatusError(kBackend), naming the segment and the size, if the segment is full.
uint64_t log_alloc_first(Segment& seg);
// Gives a log block back (a `log` word; 0 is nothing).
void log_free(Segment& seg, uint64_t log);

// Drops the entries that no longer count at `now`.
void log_evict(Segment& seg, LimitRecord& l, core::Nanos now);

// The earliest time >= now at which `amount` more fits under the limit's max; call after
// log_evict. When it is `now`, the log has room to record the grant (grown if needed).
// Throws StatusError(kBackend) if the limit has no log and the segment no room for one.
core::Nanos log_earliest_fit(Segment& seg, LimitRecord& l, core::Nanos now, uint64_t amount);

// Records a grant at `now` (room ensured by log_earliest_fit); returns the id of the
// entry that holds it.
uint64_t log_record(Segment& seg, LimitRecord& l, core::Nanos now, uint64_t amount);

// The entry `id` if it still counts, else nullptr.
WindowEntry* log_entry(Segment& seg, LimitRecord& l, uint64_t id);

// Recomputes the sum (after an entry changed in place, or a holder died).
void log_recompute(Segment& seg, LimitRecord& l);

// After a holder died: checks the log and recomputes the sum; an unreadable log is
// dropped (its history is lost, the limiter stays usable). Never throws.
void log_repair(Segment& seg, LimitRecord& l, std::string_view limiter) noexcept;

}  // namespace ptl::shm
