// SPDX-License-Identifier: MIT
#include "registry/shm/window_log.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <string>
#include <string_view>

#include "core/saturating.hpp"
#include "core/sliding_window.hpp"
#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/segment.hpp"

namespace ptl::shm {
namespace {

using core::kMaxAmount;
using core::saturating_add;
constexpr uint64_t kMaxShift = 6;  // 16 << 6 = kMaxLogEntries
static_assert((kFirstLogEntries << kMaxShift) == kMaxLogEntries);

// Whether a grant at `now` goes into the newest entry (the log has one): it comes less
// than window / 1024 after that entry was opened (exactly: 1024 * (now - opened) <
// window). So an entry spans less than window / 1024, and every grant in it leaves less
// than that late. Written without `now - opened`, which a corrupt `opened` could overflow.
bool merges_into_newest(const LimitRecord& l, core::Nanos now) {
  constexpr int64_t kRes = core::SlidingWindow::kResolution;
  const core::Nanos span = l.window_ns / kRes + (l.window_ns % kRes != 0 ? 1 : 0);
  return l.opened > now - span;
}

uint64_t log_bytes(uint64_t capacity) {
  return capacity * sizeof(WindowEntry);
}

// Callers index only entries that exist (log_begin <= seq < log_end) or room that was
// just ensured, so a log of capacity 0 (none yet) is never indexed: ring_of keeps a
// limit without a log also without entries.
struct Ring {
  WindowEntry* e = nullptr;
  uint64_t capacity = 0;
  WindowEntry& at(uint64_t seq) const { return e[seq & (capacity - 1)]; }
};

Ring ring_of(Segment& seg, LimitRecord& l) {
  if (l.log == 0) {
    if (l.log_begin != l.log_end) {
      // Entries without a log: only a corrupt segment has them. They are unreadable.
      log::logger().error("{}: a limit has window entries but no window log; dropped", seg.uri());
      l.log_begin = l.log_end;
    }
    l.sum = 0;
    return {};
  }
  const uint64_t shift = l.log & kLogShiftMask;
  if (shift > kMaxShift) {
    core::fail(core::Status::kBackend, "shm segment " + seg.uri() + " has a corrupt window log");
  }
  const uint64_t cap = kFirstLogEntries << shift;
  return {seg.at<WindowEntry>(l.log & ~kLogShiftMask, cap), cap};
}

uint64_t alloc_log(Segment& seg, uint64_t shift) {
  const uint64_t bytes = log_bytes(kFirstLogEntries << shift);
  return arena_alloc(seg, kGeneric, generic_class(bytes), bytes).off | shift;
}

// Room for one more entry. If the log cannot grow, false: the grant waits for the oldest
// entry to leave. A log without entries has none to wait for, so there the failure is
// the caller's error (StatusError(kBackend) naming the segment and the size).
bool grow(Segment& seg, LimitRecord& l) {
  const Ring old = ring_of(seg, l);
  const uint64_t shift = old.capacity == 0 ? 0 : (l.log & kLogShiftMask) + 1;
  if (shift > kMaxShift) return false;
  uint64_t fresh_log = 0;
  try {
    fresh_log = alloc_log(seg, shift);
  } catch (const core::StatusError& e) {
    if (log_count(l) == 0) throw;
    log::logger().warn(
        "{}: a window log cannot grow to {} entries ({}); grants wait for its "
        "oldest entry instead",
        seg.uri(), kFirstLogEntries << shift, e.what());
    return false;
  }
  LimitRecord probe = l;
  probe.log = fresh_log;
  const Ring fresh = ring_of(seg, probe);
  for (uint64_t s = l.log_begin; s != l.log_end; ++s) fresh.at(s) = old.at(s);
  const uint64_t old_log = l.log;
  l.log = fresh_log;  // the publishing store: offset and capacity together
  log_free(seg, old_log);
  return true;
}

}  // namespace

uint64_t log_alloc_first(Segment& seg) {
  return alloc_log(seg, 0);
}

void log_free(Segment& seg, uint64_t log) {
  if (log == 0) return;
  const uint64_t bytes = log_bytes(kFirstLogEntries << std::min(log & kLogShiftMask, kMaxShift));
  arena_free(seg, kGeneric, generic_class(bytes), log & ~kLogShiftMask);
}

void log_recompute(Segment& seg, LimitRecord& l) {
  const Ring r = ring_of(seg, l);
  uint64_t sum = 0;
  for (uint64_t s = l.log_begin; s != l.log_end; ++s) sum = saturating_add(sum, r.at(s).amount);
  l.sum = sum;
}

void log_evict(Segment& seg, LimitRecord& l, core::Nanos now) {
  if (l.log_begin == l.log_end) return;
  const Ring r = ring_of(seg, l);
  const bool saturated = l.sum == kMaxAmount;
  while (l.log_begin != l.log_end && r.at(l.log_begin).time < now - l.window_ns) {
    if (!saturated) l.sum -= std::min(l.sum, r.at(l.log_begin).amount);
    ++l.log_begin;
  }
  if (saturated) log_recompute(seg, l);
}

core::Nanos log_earliest_fit(Segment& seg, LimitRecord& l, core::Nanos now, uint64_t amount) {
  Ring r = ring_of(seg, l);
  const core::Nanos window = l.window_ns;
  core::Nanos fit = now;
  if (amount > l.max) return core::kNever;  // only a larger max can hold it
  if (l.sum > l.max - amount) {
    // From the newest entry back, keep what fits beside `amount`: the first entry that
    // does not fit must leave (and every older one with it), which decides the time. An
    // entry at t stops counting at t + window + 1 (the interval is closed).
    const uint64_t room = l.max - amount;
    uint64_t kept = 0;
    for (uint64_t s = l.log_end; s-- != l.log_begin;) {
      if (r.at(s).amount > room - kept) {
        fit = r.at(s).time + window + 1;
        break;
      }
      kept += r.at(s).amount;
    }
  }
  const uint64_t count = log_count(l);
  const bool merges = count > 0 && merges_into_newest(l, now);
  if (fit == now && !merges && count >= r.capacity && !grow(seg, l)) {
    r = ring_of(seg, l);                        // grow() returns false only with entries in it
    fit = r.at(l.log_begin).time + window + 1;  // conservative: wait for the oldest
  }
  return fit;
}

uint64_t log_record(Segment& seg, LimitRecord& l, core::Nanos now, uint64_t amount) {
  const Ring r = ring_of(seg, l);
  const uint64_t count = log_count(l);
  if (count > 0) {
    WindowEntry& newest = r.at(l.log_end - 1);
    if (merges_into_newest(l, now)) {
      // The time first: a holder that dies in between has moved the entry's end later,
      // which only counts it longer. `opened` stays: the entry stops taking grants
      // window / 1024 after its first, however many come.
      newest.time = std::max(newest.time, now);
      newest.amount = saturating_add(newest.amount, amount);
      l.sum = saturating_add(l.sum, amount);
      return l.log_end;
    }
  }
  if (r.capacity == 0 || count >= r.capacity) {
    core::fail(core::Status::kInternal, "window log has no room for a grant");
  }
  r.at(l.log_end) = {now, amount};
  l.sum = saturating_add(l.sum, amount);
  const uint64_t id = ++l.log_end;  // the publishing store; the id is the sequence number + 1
  // After publishing: a holder that dies just before this leaves the new entry with the
  // previous one's (earlier) opening, so it takes fewer grants, never more.
  l.opened = now;
  return id;
}

WindowEntry* log_entry(Segment& seg, LimitRecord& l, uint64_t id) {
  const Ring r = ring_of(seg, l);  // first: it may drop entries that have no log
  if (id == 0 || id - 1 < l.log_begin || id - 1 >= l.log_end) return nullptr;
  return &r.at(id - 1);
}

void log_repair(Segment& seg, LimitRecord& l, std::string_view limiter) noexcept {
  try {
    const Ring r = ring_of(seg, l);
    if (l.log_end < l.log_begin) l.log_begin = l.log_end;
    if (log_count(l) > r.capacity) l.log_begin = l.log_end - r.capacity;
    if (log_count(l) > 0) {
      // An opening after the newest grant is unreadable: the entry takes no more grants.
      const core::Nanos newest = r.at(l.log_end - 1).time;
      if (l.opened > newest) l.opened = std::numeric_limits<core::Nanos>::min();
    }
    log_recompute(seg, l);
  } catch (const std::exception& e) {
    // An unreadable log: start a new one. History is lost, the segment stays usable.
    log::logger().error("limiter '{}': window log unreadable, reset: {}", limiter, e.what());
    l.log = 0;
    l.log_begin = l.log_end = 0;
    l.sum = 0;
  }
}

}  // namespace ptl::shm
