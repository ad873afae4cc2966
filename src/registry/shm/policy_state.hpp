// SPDX-License-Identifier: MIT
// The policy of an shm limiter as it lives in its block (ADR 15): limits at storage
// indexes that stay put while the limit does, listed in policy order by `order`; units
// at indexes that stay put while the unit does, with their observations. A waiter's
// demand is kept by unit index, a grant's charges by storage index, so a policy change
// moves nothing that continues: it only sets values at the indexes that are new.
//
// A change is prepared in a PolicyChange block (everything it needs allocated first: a
// full segment fails it and changes nothing), published by one store of
// pending_policy, and applied in steps that each set a value; a holder that dies
// half-way has it redone by the next locker (redo_policy_change).
//
// Every function requires the limiter's lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/clock.hpp"
#include "core/policy.hpp"
#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

// A demand by unit index: every limit of a unit is charged its unit's amount.
struct UnitDemand {
  uint64_t amount[kMaxLimits] = {};
};

inline std::string_view name_of(const LimiterBlock& b) {
  return {b.name, b.name_len < kMaxNameBytes ? b.name_len : kMaxNameBytes};
}

// The policy, exactly as it was set. Throws StatusError(kBackend) if the block is corrupt.
core::PolicySpec policy_of(Segment& seg, const LimiterBlock& b);

// The limit at policy index i (i < b.n_limits, checked by policy_of's caller).
inline LimitRecord& limit_at(LimiterBlock& b, uint32_t i) {
  return b.limits[b.order[i] % kMaxLimits];
}

// Index of the unit named `unit`, or -1.
int unit_index(const LimiterBlock& b, std::string_view unit);

// Charges by policy index (core::resolve_charges under the block's policy) as a demand.
UnitDemand demand_of(LimiterBlock& b, const core::Charges& c);

bool has_window(LimiterBlock& b);
core::Nanos longest_window(LimiterBlock& b);
// Whether admission needs the time: a window, a penalty or an observation. The
// held-only path reads no clock.
bool needs_clock(LimiterBlock& b);

// Makes `policy` (valid) the limiter's: carries the state of every limit that continues
// (core::match_limits) and of every unit that stays. Throws StatusError(kBackend), changing
// nothing, if the segment has no room for what it needs.
void change_policy(Segment& seg, LimiterBlock& b, const core::PolicySpec& policy);

// Redoes a change whose maker died (pending_policy set). Never throws.
void redo_policy_change(Segment& seg, LimiterBlock& b) noexcept;

// Recomputes every held limit's sum from the held slots (derived state).
void recompute_held(Segment& seg, LimiterBlock& b);

// Gives back the block's logs and released log (the limiter is being removed).
void free_policy_blocks(Segment& seg, LimiterBlock& b);

}  // namespace ptl::shm
