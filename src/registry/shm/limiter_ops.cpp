#include "registry/shm/limiter_ops.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/process_table.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/sync.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {
namespace {

uint64_t serial_of(const Slot& s) {
  return s.word.load(std::memory_order_relaxed) >> 2;
}

void grant_waiter(Segment& seg, LimiterBlock& b, uint32_t index, Slot& w, core::Nanos now) {
  // The window entry first: a holder that dies before the grant's store has counted a
  // grant that never happened (conservative), never the reverse.
  w.window_id = has_window(b) ? window_record(seg, b, now, w.cost) : 0;
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

core::LimiterConfig config_of(const LimiterBlock& b) {
  core::LimiterConfig c;
  c.max_concurrent = b.max_concurrent;
  c.max_per_window = b.max_per_window;
  c.window_seconds = b.window_seconds;
  c.max_cost_per_window = b.max_cost_per_window;
  return c;
}

void apply_config(LimiterBlock& b, const core::LimiterConfig& config) {
  b.max_concurrent = config.max_concurrent;
  b.max_per_window = config.max_per_window;
  b.window_seconds = config.window_seconds;
  b.window_ns = config.window_ns();
  b.max_cost_per_window = config.max_cost_per_window;
}

core::Nanos clock_for(const LimiterBlock& b) {
  return has_window(b) || b.penalty_until != 0 ? core::monotonic_now() : 0;
}

bool reserve(Segment& seg, LimiterBlock& b, uint64_t cost, core::Nanos now, core::Nanos* retry_at) {
  core::Nanos fit = now;
  if (b.penalty_until != 0) {
    if (b.penalty_until > now) {
      fit = b.penalty_until;
    } else {
      b.penalty_until = 0;  // over: the concurrency-only path may skip the clock again
    }
  }
  if (has_window(b)) {
    window_evict(seg, b, now);
    fit = std::max(fit, window_earliest_fit(seg, b, now, cost));
  }
  if (fit > now) {
    *retry_at = fit;
    return false;
  }
  *retry_at = core::kNever;
  return b.in_flight < b.max_concurrent;
}

core::Permit grant_new(Segment& seg, LimiterBlock& b, uint64_t cost, core::Nanos now) {
  uint64_t serial = 0;
  const uint32_t index = slot_claim(seg, b, &serial);
  Slot* s = slot_at(seg, b, index);
  s->cost = cost;
  s->flags = 0;
  s->window_id = has_window(b) ? window_record(seg, b, now, cost) : 0;
  s->word.store(slot_word(serial, kHeld), std::memory_order_release);  // the grant
  ++b.in_flight;
  ++b.total_acquired;
  return make_permit(index, serial);
}

Ticket enqueue(Segment& seg, LimiterBlock& b, uint64_t cost, core::Nanos now, bool async) {
  Ticket t;
  t.index = slot_claim(seg, b, &t.serial);
  t.slot = slot_at(seg, b, t.index);
  Slot& s = *t.slot;
  s.cost = cost;
  s.flags = async ? kSlotAsync : 0;
  s.ticket = b.next_ticket++;
  s.enqueued_at = now;
  s.window_id = 0;
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
    if (b.max_cost_per_window != 0 && w->cost > b.max_cost_per_window) {
      finish_waiter(seg, b, index, *w, core::Status::kInvalid, now);  // a reconfigure shrank it
      continue;
    }
    core::Nanos retry_at = core::kNever;
    try {
      if (reserve(seg, b, w->cost, now, &retry_at)) {
        grant_waiter(seg, b, index, *w, now);
        continue;
      }
    } catch (const core::Error& e) {
      // Its grant cannot be recorded (no window log, and no room in the segment for
      // one): it finishes with the error rather than waiting for room nobody will tell
      // it about, and the release or cancel that got here still succeeds.
      log::logger().error("{}: limiter '{}': a waiter cannot be granted: {}", seg.uri(),
                          std::string_view(b.name, std::min<size_t>(b.name_len, kMaxNameBytes)),
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

bool release_permit(Segment& seg, LimiterBlock& b, core::Permit permit,
                    std::optional<uint64_t> actual_cost) {
  uint32_t index = 0;
  uint64_t serial = 0;
  if (!decode_permit(permit, &index, &serial)) return false;
  Slot* s = slot_at(seg, b, index);
  if (s == nullptr || s->word.load(std::memory_order_relaxed) != slot_word(serial, kHeld)) {
    return false;
  }
  if (actual_cost && s->window_id != 0) window_correct(seg, b, s->window_id, *actual_cost);
  s->word.store(kFree, std::memory_order_release);
  if (b.in_flight > 0) --b.in_flight;
  b.slot_hint = index;  // free and hot: the next acquire takes it
  if (b.waiting > 0) dispatch(seg, b, core::monotonic_now());
  return true;
}

}  // namespace ptl::shm
