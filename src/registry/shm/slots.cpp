// SPDX-License-Identifier: MIT
#include "registry/shm/slots.hpp"

#include <algorithm>
#include <bit>
#include <utility>
#include <vector>

#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/segment.hpp"

namespace ptl::shm {
namespace {

constexpr uint64_t kSerialBlock = 4096;

uint32_t chunk_slots(int k) {
  return kFirstChunkSlots << k;
}
uint64_t chunk_bytes(int k) {
  return uint64_t{chunk_slots(k)} * sizeof(Slot);
}
// The capacity of chunks 0..k-1.
uint32_t slots_before(int k) {
  return kFirstChunkSlots * ((uint32_t{1} << k) - 1);
}

uint64_t next_serial(Segment& seg, LimiterBlock& b) {
  if (b.serial_next == b.serial_end) {
    // Blocks from one counter of the segment: no two limiters share a serial.
    b.serial_next = seg.header().next_serial.fetch_add(kSerialBlock, std::memory_order_relaxed);
    b.serial_end = b.serial_next + kSerialBlock;
  }
  return b.serial_next++ & kSerialMask;
}

// Adds chunk k, filled, then published by one store in the limiter's directory.
bool add_chunk(Segment& seg, LimiterBlock& b) {
  const int k = static_cast<int>(std::bit_width(b.slot_capacity / kFirstChunkSlots + 1)) - 1;
  if (k >= kSlotChunks) return false;
  const Block blk = arena_alloc(seg, kSlotChunkKind, k, chunk_bytes(k));
  Slot* s = seg.at<Slot>(blk.off, chunk_slots(k));
  for (uint32_t i = 0; i < chunk_slots(k); ++i) {
    // A reused chunk keeps its futex counters: a stale sleeper on one must never see
    // its old value again (see layout.hpp).
    s[i].word.store(kFree, std::memory_order_relaxed);
    s[i].wake_at.store(core::kNever, std::memory_order_relaxed);
  }
  b.chunks[k] = blk.off;  // the publishing store
  b.slot_capacity = slots_before(k + 1);
  return true;
}

}  // namespace

Slot* slot_at(Segment& seg, LimiterBlock& b, uint32_t index) {
  if (index >= b.slot_capacity) return nullptr;
  const int k = static_cast<int>(std::bit_width(index / kFirstChunkSlots + 1)) - 1;
  const uint32_t within = index - slots_before(k);
  return seg.at<Slot>(b.chunks[k], chunk_slots(k)) + within;
}

uint32_t slot_claim(Segment& seg, LimiterBlock& b, uint64_t* serial) {
  const uint64_t used = uint64_t{b.in_flight} + b.waiting + 1;
  // About twice the slots in use, so a free one is found in a probe or two.
  if (b.slot_capacity < 2 * used) {
    try {
      add_chunk(seg, b);
    } catch (const core::StatusError&) {
      if (b.slot_capacity == 0) throw;  // else: look among the slots there are
    }
  }
  for (;;) {
    const uint32_t cap = b.slot_capacity;
    const uint32_t start = b.slot_hint < cap ? b.slot_hint : 0;
    for (uint32_t probe = 0; probe < cap; ++probe) {
      uint32_t index = start + probe;
      if (index >= cap) index -= cap;
      Slot* s = slot_at(seg, b, index);
      if ((s->word.load(std::memory_order_relaxed) & kStateMask) == kFree) {
        b.slot_hint = index;
        *serial = next_serial(seg, b);
        s->owner = seg.self();
        s->owner_generation = seg.generation();
        return index;
      }
    }
    if (!add_chunk(seg, b)) {
      core::fail(core::Status::kNoMemory, "more than " + std::to_string(slots_before(kSlotChunks)) +
                                              " permits and waiters on one limiter");
    }
  }
}

void queue_push_back(Segment& seg, LimiterBlock& b, uint32_t index) {
  Slot* s = slot_at(seg, b, index);
  s->next = kNil;
  s->prev = b.queue_tail;
  if (b.queue_tail != kNil) {
    slot_at(seg, b, b.queue_tail)->next = index;
  } else {
    b.queue_head = index;
  }
  b.queue_tail = index;
  ++b.waiting;
}

void queue_unlink(Segment& seg, LimiterBlock& b, uint32_t index) {
  Slot* s = slot_at(seg, b, index);
  if (s->prev != kNil) {
    slot_at(seg, b, s->prev)->next = s->next;
  } else {
    b.queue_head = s->next;
  }
  if (s->next != kNil) {
    slot_at(seg, b, s->next)->prev = s->prev;
  } else {
    b.queue_tail = s->prev;
  }
  s->next = s->prev = kNil;
  if (b.waiting > 0) --b.waiting;
}

void slots_repair(Segment& seg, LimiterBlock& b) noexcept {
  try {
    // The directory is authoritative: capacity is the run of chunks from 0.
    uint32_t cap = 0;
    for (int k = 0; k < kSlotChunks && b.chunks[k] != 0; ++k) cap = slots_before(k + 1);
    b.slot_capacity = cap;
    std::vector<std::pair<uint64_t, uint32_t>> line;  // (ticket, index) of every waiter
    uint32_t held = 0;
    for (uint32_t i = 0; i < cap; ++i) {
      const uint64_t state = slot_at(seg, b, i)->word.load(std::memory_order_relaxed) & kStateMask;
      if (state == kHeld) ++held;
      if (state == kWaiting) line.emplace_back(slot_at(seg, b, i)->ticket, i);
    }
    std::sort(line.begin(), line.end());
    b.in_flight = held;
    b.waiting = 0;
    b.queue_head = b.queue_tail = kNil;
    for (const auto& [ticket, index] : line) queue_push_back(seg, b, index);
  } catch (const std::exception& e) {
    log::logger().error("limiter '{}': slot table unreadable: {}",
                        std::string_view(b.name, std::min<size_t>(b.name_len, kMaxNameBytes)),
                        e.what());
  }
}

void slots_free(Segment& seg, LimiterBlock& b) {
  for (int k = 0; k < kSlotChunks; ++k) {
    const Offset off = b.chunks[k];
    if (off == 0) continue;
    b.chunks[k] = 0;
    arena_free(seg, kSlotChunkKind, k, off);
  }
  b.slot_capacity = 0;
  b.slot_hint = 0;
  b.in_flight = b.waiting = 0;
  b.queue_head = b.queue_tail = kNil;
}

}  // namespace ptl::shm
