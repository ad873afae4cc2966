#include "registry/shm/window_log.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>

#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/segment.hpp"

namespace ptl::shm {
namespace {

constexpr uint64_t kMaxCost = std::numeric_limits<uint64_t>::max();

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > kMaxCost - a ? kMaxCost : a + b;
}

uint64_t ring_bytes(uint64_t capacity) {
  return sizeof(RingBlock) + capacity * sizeof(WindowEntry);
}

// Callers index only entries that exist (ring_begin <= seq < ring_end) or room that was
// just ensured, so a ring of capacity 0 (none yet) is never indexed: ring_of keeps a
// limiter without a ring also without entries.
struct Ring {
  WindowEntry* e = nullptr;
  uint64_t capacity = 0;
  WindowEntry& at(uint64_t seq) const { return e[seq % capacity]; }
};

std::string_view name_of(const LimiterBlock& b) {
  return {b.name, std::min<size_t>(b.name_len, kMaxNameBytes)};
}

Ring ring_of(Segment& seg, LimiterBlock& b) {
  if (b.ring == 0) {
    if (b.ring_begin != b.ring_end) {
      // Entries without a ring: only a corrupt segment has them. They are unreadable.
      log::logger().error("{}: limiter '{}' has window entries but no window log; dropped",
                          seg.uri(), name_of(b));
      b.ring_begin = b.ring_end;
    }
    b.cost_sum = 0;
    return {};
  }
  auto* r = seg.at<RingBlock>(b.ring);
  const uint64_t cap = r->capacity;
  if (cap == 0 || cap > kMaxWindowEntries) {
    core::fail(core::Status::kBackend, "shm segment " + seg.uri() +
                                           " has a corrupt window log in limiter '" +
                                           std::string(name_of(b)) + "'");
  }
  return {seg.at<WindowEntry>(b.ring + sizeof(RingBlock), cap), cap};
}

void recompute_cost(Segment& seg, LimiterBlock& b) {
  const Ring r = ring_of(seg, b);
  uint64_t sum = 0;
  for (uint64_t s = b.ring_begin; s != b.ring_end; ++s) sum = saturating_add(sum, r.at(s).cost);
  b.cost_sum = sum;
}

// The first ring of a limiter with this count limit (0: none): no bigger than the
// limit, which a count-limited window never exceeds.
uint64_t first_ring_entries(uint64_t max_per_window) {
  return max_per_window != 0 ? std::min(max_per_window, kFirstRingEntries) : kFirstRingEntries;
}

// A ring of `capacity` with the window's entries, filled and then published in one
// store; the old one goes back to the arena. Throws Error(kBackend) if the segment is
// full, and then changes nothing.
void replace_ring(Segment& seg, LimiterBlock& b, uint64_t capacity) {
  const Ring old = ring_of(seg, b);
  const Block blk =
      arena_alloc(seg, kGeneric, generic_class(ring_bytes(capacity)), ring_bytes(capacity));
  seg.at<RingBlock>(blk.off)->capacity = capacity;
  const Ring fresh{seg.at<WindowEntry>(blk.off + sizeof(RingBlock), capacity), capacity};
  for (uint64_t s = b.ring_begin; s != b.ring_end; ++s) fresh.at(s) = old.at(s);
  const Offset old_off = b.ring;
  b.ring = blk.off;  // the publishing store
  if (old_off != 0) {
    arena_free(seg, kGeneric, generic_class(ring_bytes(old.capacity)), old_off);
  }
}

// Room for one more entry. If the ring cannot grow, false: the grant waits for the
// oldest entry to leave. A window without entries has none to wait for, so there the
// failure is the caller's error (Error(kBackend) naming the segment and the size).
bool grow(Segment& seg, LimiterBlock& b) {
  const uint64_t capacity = ring_of(seg, b).capacity;
  const uint64_t count = window_count(b);
  const uint64_t limit =
      b.max_per_window != 0 ? std::max(b.max_per_window, count + 1) : kMaxWindowEntries;
  const uint64_t want =
      std::min(std::min(limit, kMaxWindowEntries), std::max(kFirstRingEntries, capacity * 2));
  if (want <= count) return false;
  try {
    replace_ring(seg, b, want);
  } catch (const core::Error& e) {
    if (count == 0) throw;
    log::logger().warn(
        "limiter '{}': window log cannot grow to {} entries ({}); grants wait "
        "for the oldest entry instead",
        name_of(b), want, e.what());
    return false;
  }
  return true;
}

}  // namespace

void window_evict(Segment& seg, LimiterBlock& b, core::Nanos now) {
  if (b.ring_begin == b.ring_end) return;
  const Ring r = ring_of(seg, b);
  const bool saturated = b.cost_sum == kMaxCost;
  while (b.ring_begin != b.ring_end && r.at(b.ring_begin).time < now - b.window_ns) {
    if (!saturated) b.cost_sum -= std::min(b.cost_sum, r.at(b.ring_begin).cost);
    ++b.ring_begin;
  }
  if (saturated) recompute_cost(seg, b);
}

core::Nanos window_earliest_fit(Segment& seg, LimiterBlock& b, core::Nanos now, uint64_t cost) {
  Ring r = ring_of(seg, b);
  const uint64_t count = window_count(b);
  const core::Nanos window = b.window_ns;
  core::Nanos fit = now;
  // An entry at t stops counting at t + window + 1 (the interval is closed).
  if (b.max_per_window != 0 && count >= b.max_per_window) {
    fit = std::max(fit, r.at(b.ring_end - b.max_per_window).time + window + 1);
  }
  const uint64_t max_cost = b.max_cost_per_window;
  // cost <= max_cost (checked at acquire), so max_cost - cost cannot wrap.
  if (max_cost != 0 && b.cost_sum > max_cost - cost) {
    // From the newest entry back, keep what fits beside `cost`: the first entry that
    // does not fit must leave (and every older one with it), which decides the time.
    const uint64_t room = max_cost - cost;
    uint64_t kept = 0;
    for (uint64_t s = b.ring_end; s-- != b.ring_begin;) {
      if (r.at(s).cost > room - kept) {
        fit = std::max(fit, r.at(s).time + window + 1);
        break;
      }
      kept += r.at(s).cost;
    }
  }
  if (fit == now && count >= r.capacity && !grow(seg, b)) {
    r = ring_of(seg, b);  // grow() returns false only with entries in it
    fit = std::max(fit, r.at(b.ring_begin).time + window + 1);  // conservative: wait
  }
  return fit;
}

void window_prepare(Segment& seg, LimiterBlock& b, const core::LimiterConfig& config) {
  if ((config.max_per_window == 0 && config.max_cost_per_window == 0) || b.ring != 0) return;
  ring_of(seg, b);  // no ring: no entries either
  replace_ring(seg, b, first_ring_entries(config.max_per_window));
}

uint64_t window_record(Segment& seg, LimiterBlock& b, core::Nanos now, uint64_t cost) {
  const Ring r = ring_of(seg, b);
  if (r.capacity == 0 || window_count(b) >= r.capacity) {
    core::fail(core::Status::kInternal, "window log has no room for a grant");
  }
  r.at(b.ring_end) = {now, cost};
  b.cost_sum = saturating_add(b.cost_sum, cost);
  return ++b.ring_end;  // the publishing store; the id is the sequence number + 1
}

void window_correct(Segment& seg, LimiterBlock& b, uint64_t id, uint64_t actual_cost) {
  const Ring r = ring_of(seg, b);  // first: it may drop entries that have no ring
  const uint64_t seq = id - 1;
  if (id == 0 || seq < b.ring_begin || seq >= b.ring_end) return;  // left the window
  WindowEntry& e = r.at(seq);
  if (b.cost_sum == kMaxCost) {
    e.cost = actual_cost;
    recompute_cost(seg, b);  // a saturated sum cannot be corrected by subtraction
    return;
  }
  b.cost_sum = saturating_add(b.cost_sum - std::min(b.cost_sum, e.cost), actual_cost);
  e.cost = actual_cost;
}

void window_repair(Segment& seg, LimiterBlock& b) noexcept {
  try {
    const Ring r = ring_of(seg, b);
    if (b.ring_end < b.ring_begin) b.ring_begin = b.ring_end;
    if (window_count(b) > r.capacity) b.ring_begin = b.ring_end - r.capacity;
    recompute_cost(seg, b);
  } catch (const std::exception& e) {
    // An unreadable ring: start a new one. History is lost, the segment stays usable.
    log::logger().error("limiter '{}': window log unreadable, reset: {}", name_of(b), e.what());
    b.ring = 0;
    b.ring_begin = b.ring_end = 0;
    b.cost_sum = 0;
  }
}

void window_free(Segment& seg, LimiterBlock& b) {
  if (b.ring == 0) return;
  const Ring r = ring_of(seg, b);
  const Offset off = b.ring;
  b.ring = 0;
  b.ring_begin = b.ring_end = 0;
  b.cost_sum = 0;
  arena_free(seg, kGeneric, generic_class(ring_bytes(r.capacity)), off);
}

}  // namespace ptl::shm
