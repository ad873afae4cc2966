// SPDX-License-Identifier: MIT
// What grants charged, after the fact: the released log (permits released with units
// still to settle) and settle itself (ADR 15).
//
// A held permit's charges live in its slot (Slot::grant). A release that leaves a
// windowed limit unsettled copies them into the limiter's released log, a ring of
// kReleasedRecords in one block made with the limiter's first window (so a release never
// allocates); a record leaves once every window has forgotten its grant, or when the
// ring is full (the oldest goes first). Settling a forgotten permit is kInvalid.
//
// A settle replaces a unit's charge in every limit of that unit: the window entry that
// holds the grant (if it still counts) and, while the permit is held, the held sum. It
// is written as a SettleIntent and then applied by stores of values, so a holder that
// dies half-way has it redone, whole, by the next locker.
//
// Every function requires the limiter's lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/clock.hpp"
#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

// The released log's records (kReleasedRecords, record s at s % kReleasedRecords), or
// nullptr if the limiter has none.
ReleasedRecord* released_records(Segment& seg, LimiterBlock& b);
// Keeps a released permit's charges (drops the oldest record if the log is full); does
// nothing without a log.
void keep_released(Segment& seg, LimiterBlock& b, uint64_t permit, const GrantCharges& g);
ReleasedRecord* find_released(Segment& seg, LimiterBlock& b, uint64_t permit);
// Drops the records no window can count any more at `now`.
void forget_released(Segment& seg, LimiterBlock& b, core::Nanos now);

struct UnitSettle {
  uint32_t unit;  // unit index
  uint64_t actual;
};

// Whether a limit of unit index `unit` was settled for this grant.
bool settled_unit(const LimiterBlock& b, const GrantCharges& g, uint32_t unit);
// Settles the units of one grant; `held`: the permit is still held.
void settle_grant(Segment& seg, LimiterBlock& b, GrantCharges& g, bool held,
                  const UnitSettle* units, size_t n);

// After a holder died: redoes a published settle, checks the released log. Derived sums
// are the caller's to recompute. Never throws.
void grants_repair(Segment& seg, LimiterBlock& b) noexcept;

}  // namespace ptl::shm
