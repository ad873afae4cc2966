// SPDX-License-Identifier: MIT
#include "registry/shm/grants.hpp"

#include <algorithm>
#include <limits>

#include "core/saturating.hpp"
#include "log/log.hpp"
#include "registry/shm/policy_state.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {
namespace {

using core::kMaxAmount;
using core::saturating_add;

// The stores of an intent: each sets a value, so applying it twice is applying it once.
void apply_intent(Segment& seg, LimiterBlock& b) {
  const SettleIntent& in = b.settle;
  auto& g = *seg.at<GrantCharges>(in.grant);
  for (uint32_t s = 0; s < kMaxLimits; ++s) {
    if (!(in.limits >> s & 1u)) continue;
    if (in.entry_live >> s & 1u) {
      if (WindowEntry* e = log_entry(seg, b.limits[s], g.entry[s])) e->amount = in.entry_amount[s];
    }
    g.charge[s] = in.actual[s];
    g.settled |= 1u << s;
  }
}

}  // namespace

ReleasedRecord* released_records(Segment& seg, LimiterBlock& b) {
  if (b.released == 0) return nullptr;
  return seg.at<ReleasedRecord>(b.released, kReleasedRecords);
}

void keep_released(Segment& seg, LimiterBlock& b, uint64_t permit, const GrantCharges& g) {
  ReleasedRecord* r = released_records(seg, b);
  if (r == nullptr) return;
  if (b.released_end - b.released_begin >= kReleasedRecords) ++b.released_begin;
  ReleasedRecord& rec = r[b.released_end % kReleasedRecords];
  rec.permit = permit;
  rec.grant = g;
  ++b.released_end;  // the publishing store
}

ReleasedRecord* find_released(Segment& seg, LimiterBlock& b, uint64_t permit) {
  ReleasedRecord* r = released_records(seg, b);
  if (r == nullptr) return nullptr;
  for (uint64_t s = b.released_begin; s != b.released_end; ++s) {
    if (r[s % kReleasedRecords].permit == permit) return &r[s % kReleasedRecords];
  }
  return nullptr;
}

void forget_released(Segment& seg, LimiterBlock& b, core::Nanos now) {
  ReleasedRecord* r = released_records(seg, b);
  if (r == nullptr) return;
  // Released in about grant order; a record released out of order waits for the ones
  // before it, which bounds its stay by the ring's length.
  const core::Nanos before = now - longest_window(b) - 1;
  while (b.released_begin != b.released_end &&
         r[b.released_begin % kReleasedRecords].grant.granted_at < before) {
    ++b.released_begin;
  }
}

bool settled_unit(const LimiterBlock& b, const GrantCharges& g, uint32_t unit) {
  for (uint32_t i = 0; i < b.n_limits && i < kMaxLimits; ++i) {
    const uint32_t s = b.order[i] % kMaxLimits;
    if (b.limits[s].unit == unit && (g.settled >> s & 1u)) return true;
  }
  return false;
}

void settle_grant(Segment& seg, LimiterBlock& b, GrantCharges& g, bool held,
                  const UnitSettle* units, size_t n) {
  SettleIntent& in = b.settle;
  in.grant = seg.offset_of(&g);
  in.limits = 0;
  in.entry_live = 0;
  uint64_t excess[kMaxLimits] = {};
  uint64_t shortfall[kMaxLimits] = {};
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    const uint32_t s = b.order[i] % kMaxLimits;
    LimitRecord& l = b.limits[s];
    for (size_t k = 0; k < n; ++k) {
      if (units[k].unit != l.unit) continue;
      const uint64_t was = g.charge[s];
      const uint64_t actual = units[k].actual;
      in.limits |= 1u << s;
      in.actual[s] = actual;
      // As the local limiter: the excess over the last limit's estimate of the unit.
      excess[l.unit % kMaxLimits] = actual > was ? actual - was : 0;
      shortfall[l.unit % kMaxLimits] = was > actual ? was - actual : 0;
      if (l.window_ns == 0) continue;
      if (const WindowEntry* e = log_entry(seg, l, g.entry[s])) {
        // The entry holds this grant's `was` (and maybe merged grants' amounts besides).
        in.entry_amount[s] = saturating_add(e->amount - std::min(e->amount, was), actual);
        in.entry_live |= 1u << s;
      }
    }
  }
  // The derived sums move by the difference, computed before the charges change.
  uint64_t old_entry[kMaxLimits] = {};
  uint64_t old_charge[kMaxLimits] = {};
  for (uint32_t s = 0; s < kMaxLimits; ++s) {
    if (!(in.limits >> s & 1u)) continue;
    old_charge[s] = g.charge[s];
    if (in.entry_live >> s & 1u) old_entry[s] = log_entry(seg, b.limits[s], g.entry[s])->amount;
  }
  in.valid = 1;  // the publishing store: from here on the settle happens, whole
  apply_intent(seg, b);
  for (uint32_t s = 0; s < kMaxLimits; ++s) {
    if (!(in.limits >> s & 1u)) continue;
    LimitRecord& l = b.limits[s];
    if (l.window_ns == 0) {
      if (held) l.held = saturating_add(l.held - std::min(l.held, old_charge[s]), in.actual[s]);
    } else if (in.entry_live >> s & 1u) {
      if (l.sum == kMaxAmount) {
        log_recompute(seg, l);  // a saturated sum cannot be corrected by subtraction
      } else {
        l.sum = saturating_add(l.sum - std::min(l.sum, old_entry[s]), in.entry_amount[s]);
      }
    }
  }
  in.valid = 0;
  // The provider counts what was used: the excess is charged to the caps, a shortfall
  // given back to those observed before the grant, which charged its estimate. (Not
  // redone after a crash: an observation is the provider's estimate anyway.)
  for (uint32_t u = 0; u < kMaxLimits; ++u) {
    if (b.units[u].len == 0) continue;
    if (excess[u] != 0) b.units[u].caps.charge(excess[u]);
    if (shortfall[u] != 0) b.units[u].caps.refund(shortfall[u], g.granted_at);
  }
}

void grants_repair(Segment& seg, LimiterBlock& b) noexcept {
  try {
    if (b.settle.valid != 0) {
      log::logger().warn("{}: limiter '{}': redoing a settle its process died in", seg.uri(),
                         name_of(b));
      apply_intent(seg, b);
    }
  } catch (const std::exception& e) {
    log::logger().error("{}: limiter '{}': a settle cannot be redone: {}", seg.uri(), name_of(b),
                        e.what());
  }
  b.settle.valid = 0;
  if (b.released_end < b.released_begin || b.released_end - b.released_begin > kReleasedRecords) {
    b.released_begin = b.released_end;
  }
}

}  // namespace ptl::shm
