// SPDX-License-Identifier: MIT
#include "registry/shm/limiter_ops.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/saturating.hpp"
#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/grants.hpp"
#include "registry/shm/process_table.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/sync.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {
namespace {

using core::kMaxAmount;

uint64_t serial_of(const Slot& s) {
  return s.word.load(std::memory_order_relaxed) >> 2;
}

// Charges a grant of `d` at `now` to every limit and observation and records it in `g`.
// Before the grant's publishing store: a holder that dies first has counted a grant
// that never happened (conservative), never the reverse.
void charge(Segment& seg, LimiterBlock& b, GrantCharges& g, const UnitDemand& d, core::Nanos now) {
  g.granted_at = now;
  g.settled = 0;
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    const uint32_t s = b.order[i] % kMaxLimits;
    LimitRecord& l = b.limits[s];
    const uint64_t amount = d.amount[l.unit % kMaxLimits];
    g.charge[s] = amount;
    if (l.window_ns != 0) {
      g.entry[s] = log_record(seg, l, now, amount);
    } else {
      g.entry[s] = 0;
      l.held = amount > kMaxAmount - l.held ? kMaxAmount : l.held + amount;
    }
  }
  for (uint32_t u = 0; u < kMaxLimits; ++u) {
    if (b.units[u].len != 0 && !b.units[u].caps.empty()) b.units[u].caps.charge(d.amount[u]);
  }
}

// Gives a held grant's amounts back to the held limits.
void uncharge_held(LimiterBlock& b, const GrantCharges& g) {
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    const uint32_t s = b.order[i] % kMaxLimits;
    LimitRecord& l = b.limits[s];
    if (l.window_ns == 0) l.held -= std::min(l.held, g.charge[s]);
  }
}

bool too_big(LimiterBlock& b, const UnitDemand& d) {
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    const LimitRecord& l = limit_at(b, i);
    if (d.amount[l.unit % kMaxLimits] > l.max) return true;
  }
  return false;
}

void grant_waiter(Segment& seg, LimiterBlock& b, uint32_t index, Slot& w, core::Nanos now) {
  UnitDemand d;
  std::copy(std::begin(w.demand), std::end(w.demand), d.amount);
  charge(seg, b, w.grant, d, now);
  queue_unlink(seg, b, index);
  b.total_wait_ns += static_cast<uint64_t>(std::max<core::Nanos>(0, now - w.enqueued_at));
  ++b.total_acquired;
  ++b.in_flight;
  w.wake_at.store(core::kNever, std::memory_order_relaxed);
  w.word.store(slot_word(serial_of(w), kHeld), std::memory_order_release);
  notify(seg, w);
}

void finish_waiter(Segment& seg, LimiterBlock& b, uint32_t index, Slot& w, core::Status status,
                   core::Nanos now) {
  queue_unlink(seg, b, index);
  b.total_wait_ns += static_cast<uint64_t>(std::max<core::Nanos>(0, now - w.enqueued_at));
  w.result = static_cast<int32_t>(status);
  w.word.store(slot_word(serial_of(w), kDone), std::memory_order_release);
  notify(seg, w);
}

}  // namespace

void notify(Segment& seg, Slot& s) {
  if ((s.flags & kSlotAsync) != 0) {
    ring_doorbell(seg, s.owner);
  } else {
    bump_and_wake(&s.futex, INT_MAX);
  }
}

core::Nanos clock_for(LimiterBlock& b) {
  return needs_clock(b) ? core::monotonic_now() : 0;
}

bool reserve(Segment& seg, LimiterBlock& b, const UnitDemand& d, core::Nanos now,
             core::Nanos* retry_at) {
  core::Nanos fit = now;
  if (b.penalty_until != 0) {
    if (b.penalty_until > now) {
      fit = b.penalty_until;
    } else {
      b.penalty_until = 0;  // over: the held-only path may skip the clock again
    }
  }
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    LimitRecord& l = limit_at(b, i);
    if (l.window_ns == 0) continue;
    log_evict(seg, l, now);
    fit = std::max(fit, log_earliest_fit(seg, l, now, d.amount[l.unit % kMaxLimits]));
  }
  for (uint32_t u = 0; u < kMaxLimits; ++u) {
    UnitRecord& unit = b.units[u];
    if (unit.len == 0 || unit.caps.empty()) continue;
    unit.caps.evict(now);
    fit = std::max(fit, unit.caps.earliest_fit(now, d.amount[u]));
  }
  if (fit > now) {
    *retry_at = fit;
    return false;
  }
  *retry_at = core::kNever;
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    const LimitRecord& l = limit_at(b, i);
    if (l.window_ns != 0) continue;
    if (d.amount[l.unit % kMaxLimits] > l.max - std::min(l.max, l.held)) return false;
  }
  return b.in_flight < UINT32_MAX;
}

core::PermitId grant_new(Segment& seg, LimiterBlock& b, const UnitDemand& d, core::Nanos now) {
  uint64_t serial = 0;
  const uint32_t index = slot_claim(seg, b, &serial);
  Slot* s = slot_at(seg, b, index);
  s->flags = 0;
  charge(seg, b, s->grant, d, now);
  s->word.store(slot_word(serial, kHeld), std::memory_order_release);  // the grant
  ++b.in_flight;
  ++b.total_acquired;
  return make_permit(index, serial);
}

Ticket enqueue(Segment& seg, LimiterBlock& b, const UnitDemand& d, core::Nanos now, bool async) {
  Ticket t;
  t.index = slot_claim(seg, b, &t.serial);
  t.slot = slot_at(seg, b, t.index);
  Slot& s = *t.slot;
  std::copy(std::begin(d.amount), std::end(d.amount), s.demand);
  s.flags = async ? kSlotAsync : 0;
  s.ticket = b.next_ticket++;
  s.enqueued_at = now;
  s.result = 0;
  s.wake_at.store(core::kNever, std::memory_order_relaxed);
  s.word.store(slot_word(t.serial, kWaiting), std::memory_order_release);
  queue_push_back(seg, b, t.index);
  return t;
}

void dispatch(Segment& seg, LimiterBlock& b, core::Nanos now) {
  Liveness live(seg);
  while (b.queue_head != kNil) {
    const uint32_t index = b.queue_head;
    Slot* w = slot_at(seg, b, index);
    if (w == nullptr) {
      core::fail(core::Status::kBackend, "shm segment " + seg.uri() + ": corrupt waiter queue");
    }
    if (!live.alive(w->owner, w->owner_generation)) {
      queue_unlink(seg, b, index);  // its process died in line: it leaves no trace
      w->word.store(kFree, std::memory_order_release);
      continue;
    }
    UnitDemand d;
    std::copy(std::begin(w->demand), std::end(w->demand), d.amount);
    if (too_big(b, d)) {
      finish_waiter(seg, b, index, *w, core::Status::kInvalid, now);  // a policy change shrank it
      continue;
    }
    core::Nanos retry_at = core::kNever;
    try {
      if (reserve(seg, b, d, now, &retry_at)) {
        grant_waiter(seg, b, index, *w, now);
        continue;
      }
    } catch (const core::StatusError& e) {
      // Its grant cannot be recorded (no window log, and no room in the segment for
      // one): it finishes with the error rather than waiting for room nobody will tell
      // it about, and the release or cancel that got here still succeeds.
      log::logger().error("{}: limiter '{}': a waiter cannot be granted: {}", seg.uri(), name_of(b),
                          e.what());
      finish_waiter(seg, b, index, *w, e.status(), now);
      continue;
    }
    if (w->wake_at.load(std::memory_order_relaxed) != retry_at) {
      w->wake_at.store(retry_at, std::memory_order_relaxed);
      notify(seg, *w);  // it sleeps until then itself: one wake-up, as a sleep_until
    }
    break;
  }
}

Outcome outcome(const Ticket& t, core::Status* status) {
  const uint64_t w = t.slot->word.load(std::memory_order_acquire);
  if (w == slot_word(t.serial, kWaiting)) return Outcome::kWaiting;
  if (w == slot_word(t.serial, kHeld)) {
    *status = core::Status::kOk;
    return Outcome::kGranted;
  }
  if (w == slot_word(t.serial, kDone)) {
    *status = static_cast<core::Status>(t.slot->result);
    t.slot->word.store(kFree, std::memory_order_release);
    return Outcome::kFinished;
  }
  *status = core::Status::kInternal;
  return Outcome::kLost;
}

bool leave_queue(Segment& seg, LimiterBlock& b, const Ticket& t, core::Status why,
                 core::Nanos now) {
  Slot& s = *t.slot;
  if (s.word.load(std::memory_order_relaxed) != slot_word(t.serial, kWaiting)) return false;
  queue_unlink(seg, b, t.index);
  s.word.store(kFree, std::memory_order_release);
  b.total_wait_ns += static_cast<uint64_t>(std::max<core::Nanos>(0, now - s.enqueued_at));
  if (why == core::Status::kTimedOut) ++b.total_timeouts;
  if (why == core::Status::kCanceled) ++b.total_cancelled;
  if (b.waiting > 0) dispatch(seg, b, now);  // the next in line may fit where this did not
  return true;
}

void withdraw(Segment& seg, LimiterBlock& b, const Ticket& t, core::Status why, core::Nanos now) {
  core::Status st = core::Status::kOk;
  const Outcome o = outcome(t, &st);  // kFinished frees the slot
  if (o == Outcome::kWaiting) {
    leave_queue(seg, b, t, why, now);
  } else if (o == Outcome::kGranted) {
    release_permit(seg, b, make_permit(t.index, t.serial), std::nullopt);
  }
}

void finish_too_big(Segment& seg, LimiterBlock& b, core::Nanos now) {
  for (uint32_t index = b.queue_head; index != kNil;) {
    Slot* w = slot_at(seg, b, index);
    if (w == nullptr) break;
    const uint32_t next = w->next;
    UnitDemand d;
    std::copy(std::begin(w->demand), std::end(w->demand), d.amount);
    if (too_big(b, d)) finish_waiter(seg, b, index, *w, core::Status::kInvalid, now);
    index = next;
  }
}

Slot* held_slot(Segment& seg, LimiterBlock& b, core::PermitId permit) {
  uint32_t index = 0;
  uint64_t serial = 0;
  if (!decode_permit(permit, &index, &serial)) return nullptr;
  Slot* s = slot_at(seg, b, index);
  if (s == nullptr || s->word.load(std::memory_order_relaxed) != slot_word(serial, kHeld)) {
    return nullptr;
  }
  return s;
}

bool release_permit(Segment& seg, LimiterBlock& b, core::PermitId permit,
                    std::optional<uint64_t> actual_cost) {
  Slot* s = held_slot(seg, b, permit);
  if (s == nullptr) return false;
  GrantCharges& g = s->grant;
  const int tokens = actual_cost ? unit_index(b, core::kTokens) : -1;
  if (tokens >= 0 && !settled_unit(b, g, static_cast<uint32_t>(tokens))) {
    const UnitSettle settle{static_cast<uint32_t>(tokens), *actual_cost};
    settle_grant(seg, b, g, /*held=*/true, &settle, 1);
  }
  uncharge_held(b, g);
  bool unsettled_window = false;
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    const uint32_t st = b.order[i] % kMaxLimits;
    if (b.limits[st].window_ns != 0 && !(g.settled >> st & 1u)) unsettled_window = true;
  }
  // Kept before the slot is freed: a holder that dies in between leaves a record of a
  // permit still held, which a settle finds held first.
  if (unsettled_window) keep_released(seg, b, permit, g);
  s->word.store(kFree, std::memory_order_release);
  if (b.in_flight > 0) --b.in_flight;
  const auto index = static_cast<uint32_t>(permit & kIndexMask);
  b.slot_hint = index;  // free and hot: the next acquire takes it
  if (b.waiting > 0) dispatch(seg, b, core::monotonic_now());
  return true;
}

}  // namespace ptl::shm
