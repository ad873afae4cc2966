// SPDX-License-Identifier: MIT
#include "registry/shm/policy_state.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/saturating.hpp"
#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/grants.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {
namespace {

using core::kMaxAmount;

std::string_view unit_name(const UnitRecord& u) {
  return {u.name, std::min<size_t>(u.len, core::kMaxUnitBytes)};
}

// Everything a change allocated, given back if a later allocation fails.
struct Allocations {
  Segment& seg;
  std::vector<uint64_t> logs;
  Offset released = 0;
  Offset change = 0;
  bool committed = false;
  ~Allocations() {
    if (committed) return;
    for (const uint64_t log : logs) log_free(seg, log);
    if (released != 0) {
      arena_free(seg, kGeneric, generic_class(kReleasedBlockBytes), released);
    }
    if (change != 0) {
      arena_free(seg, kGeneric, generic_class(sizeof(PolicyChange)), change);
    }
  }
};

// Fills `c` with the block's current tables carried over to `policy`.
void plan(LimiterBlock& b, const core::PolicySpec& policy, const core::PolicySpec& old,
          PolicyChange& c, Allocations& alloc, Segment& seg) {
  c.n_limits = static_cast<uint32_t>(policy.limits.size());
  c.shorthand = policy.config_shorthand ? 1 : 0;
  c.config_window_seconds = policy.config_window_seconds;
  // Units that stay keep their index (and observations); new ones take free indexes.
  uint32_t unit_used = 0;
  int unit_of[kMaxLimits];
  for (size_t j = 0; j < policy.limits.size(); ++j) {
    const int u = unit_index(b, policy.limits[j].unit);
    unit_of[j] = u;
    if (u >= 0) {
      unit_used |= 1u << u;
      c.units[u] = b.units[u];
    }
  }
  const core::Charges defaults = core::resolve_charges(policy, nullptr, 0);
  for (size_t j = 0; j < policy.limits.size(); ++j) {
    if (unit_of[j] >= 0) continue;
    int u = -1;
    for (size_t k = 0; k < j; ++k) {  // a new unit named by an earlier limit
      if (policy.limits[k].unit == policy.limits[j].unit) u = unit_of[k];
    }
    if (u < 0) {
      u = 0;
      while (unit_used >> u & 1u) ++u;
      unit_used |= 1u << u;
      UnitRecord& r = c.units[u];
      r = UnitRecord{};
      std::memcpy(r.name, policy.limits[j].unit.data(), policy.limits[j].unit.size());
      r.len = static_cast<uint32_t>(policy.limits[j].unit.size());
      c.new_units |= 1u << u;
      c.unit_default[u] = defaults.amount[j];
    }
    unit_of[j] = u;
  }
  // Limits that continue keep their storage index and state; new ones take free indexes.
  const std::vector<int> from = core::match_limits(old, policy);
  uint32_t kept = 0;
  for (size_t j = 0; j < policy.limits.size(); ++j) {
    if (from[j] >= 0) kept |= 1u << b.order[from[j]];
  }
  uint32_t taken = kept;
  for (size_t j = 0; j < policy.limits.size(); ++j) {
    const core::LimitSpec& l = policy.limits[j];
    uint32_t s = 0;
    if (from[j] >= 0) {
      s = b.order[from[j]];
      c.limits[s] = b.limits[s];
    } else {
      while (taken >> s & 1u) ++s;
      c.limits[s] = LimitRecord{};
      c.new_limits |= 1u << s;
      c.held_default[s] = l.held() && l.unit == core::kRequests ? 1 : 0;
      if (!l.held()) {
        c.limits[s].log = log_alloc_first(seg);
        alloc.logs.push_back(c.limits[s].log);
      }
    }
    taken |= 1u << s;
    c.order[j] = static_cast<uint8_t>(s);
    c.limits[s].max = l.max;
    c.limits[s].window_ns = l.window_ns;
    c.limits[s].unit = static_cast<uint32_t>(unit_of[j]);
  }
  // Dropped limits give their logs back once the change is in.
  for (uint32_t s = 0; s < kMaxLimits; ++s) {
    if (!(kept >> s & 1u) && b.limits[s].max != 0) c.free_logs[s] = b.limits[s].log;
  }
  if (policy.has_window()) {
    c.released = b.released;
    if (c.released == 0) {
      const Block blk =
          arena_alloc(seg, kGeneric, generic_class(kReleasedBlockBytes), kReleasedBlockBytes);
      alloc.released = c.released = blk.off;
    }
  } else {
    c.free_released = b.released;
  }
}

// The change's stores; applying them again gives the same result.
void apply(Segment& seg, LimiterBlock& b, PolicyChange& c) {
  if (b.released != c.released) {
    b.released_begin = b.released_end = 0;  // a new log starts empty
    b.released = c.released;
  }
  b.n_limits = c.n_limits;
  b.shorthand = c.shorthand;
  b.config_window_seconds = c.config_window_seconds;
  std::memcpy(b.order, c.order, sizeof b.order);
  std::memcpy(static_cast<void*>(b.limits), c.limits, sizeof b.limits);
  std::memcpy(static_cast<void*>(b.units), c.units, sizeof b.units);
  // At a new limit a permit held now was not charged (its release gives nothing back),
  // except one request in the requests-held limit, which counts every held permit; a
  // waiter takes a new unit's default amount.
  const auto fresh_grant = [&](GrantCharges& g, bool requests_count) {
    for (uint32_t s = 0; s < kMaxLimits; ++s) {
      if (!(c.new_limits >> s & 1u)) continue;
      g.charge[s] = requests_count ? c.held_default[s] : 0;
      g.entry[s] = 0;
      g.settled &= ~(1u << s);
    }
  };
  for_each_used_slot(seg, b, [&](uint32_t, Slot& slot) {
    const uint64_t state = slot.word.load(std::memory_order_relaxed) & kStateMask;
    if (state == kHeld) fresh_grant(slot.grant, true);
    if (state != kWaiting) return;
    for (uint32_t u = 0; u < kMaxLimits; ++u) {
      if (c.new_units >> u & 1u) slot.demand[u] = c.unit_default[u];
    }
  });
  if (ReleasedRecord* r = released_records(seg, b)) {
    for (uint64_t q = b.released_begin; q != b.released_end; ++q) {
      fresh_grant(r[q % kReleasedRecords].grant, false);
    }
  }
  recompute_held(seg, b);
  // Zeroed before each free: a redo after a death in between leaks, never frees twice.
  for (uint32_t s = 0; s < kMaxLimits; ++s) {
    const uint64_t log = c.free_logs[s];
    c.free_logs[s] = 0;
    log_free(seg, log);
  }
  const Offset released = c.free_released;
  c.free_released = 0;
  if (released != 0) arena_free(seg, kGeneric, generic_class(kReleasedBlockBytes), released);
  ++b.policy_version;
}

}  // namespace

core::PolicySpec policy_of(Segment& seg, const LimiterBlock& b) {
  core::PolicySpec p;
  p.config_shorthand = b.shorthand != 0;
  p.config_window_seconds = b.config_window_seconds;
  const auto corrupt = [&] {
    core::fail(core::Status::kBackend, "shm segment " + seg.uri() + ": limiter '" +
                                           std::string(name_of(b)) + "' has a corrupt policy");
  };
  if (b.n_limits == 0 || b.n_limits > kMaxLimits) corrupt();
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    if (b.order[i] >= kMaxLimits) corrupt();
    const LimitRecord& l = b.limits[b.order[i]];
    if (l.unit >= kMaxLimits || b.units[l.unit].len == 0 ||
        b.units[l.unit].len > core::kMaxUnitBytes) {
      corrupt();
    }
    p.limits.push_back({std::string(unit_name(b.units[l.unit])), l.max, l.window_ns});
  }
  return p;
}

int unit_index(const LimiterBlock& b, std::string_view unit) {
  for (uint32_t u = 0; u < kMaxLimits; ++u) {
    if (b.units[u].len != 0 && unit_name(b.units[u]) == unit) return static_cast<int>(u);
  }
  return -1;
}

UnitDemand demand_of(LimiterBlock& b, const core::Charges& c) {
  UnitDemand d;
  for (uint32_t i = 0; i < c.n && i < b.n_limits; ++i) {
    d.amount[limit_at(b, i).unit % kMaxLimits] = c.amount[i];
  }
  return d;
}

bool has_window(LimiterBlock& b) {
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    if (limit_at(b, i).window_ns != 0) return true;
  }
  return false;
}

core::Nanos longest_window(LimiterBlock& b) {
  core::Nanos w = 0;
  for (uint32_t i = 0; i < b.n_limits; ++i) w = std::max(w, limit_at(b, i).window_ns);
  return w;
}

bool needs_clock(LimiterBlock& b) {
  if (b.penalty_until != 0 || has_window(b)) return true;
  for (const UnitRecord& u : b.units) {
    if (u.len != 0 && !u.caps.empty()) return true;
  }
  return false;
}

void recompute_held(Segment& seg, LimiterBlock& b) {
  for (LimitRecord& l : b.limits) l.held = 0;
  for_each_used_slot(seg, b, [&](uint32_t, Slot& slot) {
    if ((slot.word.load(std::memory_order_relaxed) & kStateMask) != kHeld) return;
    for (uint32_t i = 0; i < b.n_limits; ++i) {
      const uint32_t s = b.order[i] % kMaxLimits;
      LimitRecord& l = b.limits[s];
      if (l.window_ns != 0) continue;
      const uint64_t c = slot.grant.charge[s];
      l.held = c > kMaxAmount - l.held ? kMaxAmount : l.held + c;
    }
  });
}

void change_policy(Segment& seg, LimiterBlock& b, const core::PolicySpec& policy) {
  const core::PolicySpec old = b.n_limits == 0 ? core::PolicySpec{} : policy_of(seg, b);
  Allocations alloc{seg, {}, 0, 0, false};
  const Block blk =
      arena_alloc(seg, kGeneric, generic_class(sizeof(PolicyChange)), sizeof(PolicyChange));
  alloc.change = blk.off;
  PolicyChange& c = *seg.at<PolicyChange>(blk.off);
  std::memset(static_cast<void*>(&c), 0, sizeof c);
  plan(b, policy, old, c, alloc, seg);
  alloc.committed = true;
  b.pending_policy = blk.off;  // the publishing store: from here on the change happens
  apply(seg, b, c);
  b.pending_policy = 0;
  arena_free(seg, kGeneric, generic_class(sizeof(PolicyChange)), blk.off);
}

void redo_policy_change(Segment& seg, LimiterBlock& b) noexcept {
  if (b.pending_policy == 0) return;
  log::logger().warn("{}: limiter '{}': redoing a policy change its process died in", seg.uri(),
                     name_of(b));
  try {
    PolicyChange& c = *seg.at<PolicyChange>(b.pending_policy);
    apply(seg, b, c);
    const Offset off = b.pending_policy;
    b.pending_policy = 0;
    arena_free(seg, kGeneric, generic_class(sizeof(PolicyChange)), off);
  } catch (const std::exception& e) {
    log::logger().error("{}: limiter '{}': a policy change cannot be redone: {}", seg.uri(),
                        name_of(b), e.what());
    b.pending_policy = 0;
  }
}

void free_policy_blocks(Segment& seg, LimiterBlock& b) {
  for (LimitRecord& l : b.limits) {
    const uint64_t log = l.log;
    l = LimitRecord{};
    log_free(seg, log);
  }
  for (UnitRecord& u : b.units) u = UnitRecord{};
  b.n_limits = 0;
  const Offset released = b.released;
  b.released = 0;
  b.released_begin = b.released_end = 0;
  if (released != 0) arena_free(seg, kGeneric, generic_class(kReleasedBlockBytes), released);
}

}  // namespace ptl::shm
