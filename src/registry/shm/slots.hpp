// SPDX-License-Identifier: MIT
// The slots of one shm limiter: permits held and waiters in line, and the FIFO queue
// of waiters threaded through them.
//
// Slots live in chunks that never move (chunk k holds kFirstChunkSlots << k slots), so a
// waiter can sleep on its slot's futex word while others grow the table. A permit is
// (1 << 63) | serial << 24 | slot index: bit 63 tells it from a local permit, the
// serial (unique in the segment) from any other limiter's permit and from an earlier
// holder of the same slot.
//
// Every function requires the limiter's lock.
#pragma once

#include <cstdint>

#include "core/limiter_backend.hpp"
#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

inline constexpr int kIndexBits = 24;
inline constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
inline constexpr uint64_t kSerialMask = (uint64_t{1} << 39) - 1;
inline constexpr uint64_t kShmPermitBit = uint64_t{1} << 63;

inline core::PermitId make_permit(uint32_t index, uint64_t serial) {
  return kShmPermitBit | (serial & kSerialMask) << kIndexBits | index;
}
inline bool decode_permit(core::PermitId p, uint32_t* index, uint64_t* serial) {
  if ((p & kShmPermitBit) == 0) return false;
  *index = static_cast<uint32_t>(p & kIndexMask);
  *serial = (p >> kIndexBits) & kSerialMask;
  return true;
}
inline uint64_t slot_word(uint64_t serial, SlotState state) {
  return (serial & kSerialMask) << 2 | state;
}

// The slot at `index`, or nullptr past the table.
Slot* slot_at(Segment& seg, LimiterBlock& b, uint32_t index);

// A free slot's index, owned by this process, with a fresh serial in *serial (its word
// is still kFree: the caller fills the slot, then publishes the word). Grows the table.
// Throws StatusError(kNoMemory) at 16,777,200 slots, StatusError(kBackend) if the segment is full.
uint32_t slot_claim(Segment& seg, LimiterBlock& b, uint64_t* serial);

// The waiter queue (derived state: rebuilt by slots_repair).
void queue_push_back(Segment& seg, LimiterBlock& b, uint32_t index);
void queue_unlink(Segment& seg, LimiterBlock& b, uint32_t index);

// Calls fn(index, slot) for every slot whose word is not kFree.
template <typename Fn>
void for_each_used_slot(Segment& seg, LimiterBlock& b, Fn&& fn) {
  for (uint32_t i = 0; i < b.slot_capacity; ++i) {
    Slot* s = slot_at(seg, b, i);
    if (s != nullptr && (s->word.load(std::memory_order_relaxed) & kStateMask) != kFree) fn(i, *s);
  }
}

// After a holder died: recomputes the capacity, in_flight and waiting, and rebuilds the
// queue in ticket order. Never throws.
void slots_repair(Segment& seg, LimiterBlock& b) noexcept;

// Gives every chunk back to the arena (the limiter is being removed).
void slots_free(Segment& seg, LimiterBlock& b);

}  // namespace ptl::shm
