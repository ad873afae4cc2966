// SPDX-License-Identifier: MIT
// PermitTable: which permits of one limiter are outstanding, without a lock.
//
// A permit value is (serial << kSlotBits) | slot. Serials come from one process-wide
// counter, so no two permits of the process are ever equal (until 2^40 grants have
// passed) and a permit of another limiter, or one released already, never matches the
// slot it names. Claiming and retiring a slot are one CAS each; the concurrency limit
// itself is enforced by the limiter, which reserves before it calls issue().
#pragma once

#include <atomic>
#include <cstdint>

namespace ptl::core {

class PermitTable {
 public:
  static constexpr int kSlotBits = 24;
  static constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;
  static constexpr uint32_t kMaxSlots = uint32_t{1} << kSlotBits;

  // One outstanding permit. Fields other than `permit` are written only by the holder
  // between issue() and retire(), so plain relaxed stores suffice.
  // A cache line each: two threads' slots side by side would otherwise share a line and
  // every claim by one would evict the other's.
  struct alignas(64) Slot {
    std::atomic<uint64_t> permit{0};      // 0 = free
    std::atomic<uint64_t> uses{0};        // grants ever made through this slot
    std::atomic<uint64_t> cost{0};        // cost charged to the window at the grant
    std::atomic<uint64_t> cost_entry{0};  // id in the cost log, 0 = none
  };

  PermitTable() = default;
  PermitTable(const PermitTable&) = delete;
  PermitTable& operator=(const PermitTable&) = delete;
  ~PermitTable();

  // Claims a free slot and returns the new permit (never 0). `in_flight` is the number
  // of permits reserved, this one included; the table keeps about twice that many
  // slots so that a free one is found in a probe or two. Throws StatusError(kNoMemory).
  uint64_t issue(uint64_t in_flight);

  // The slot holding `permit`, or nullptr if the permit is not outstanding here.
  Slot* find(uint64_t permit) const;

  // Frees the permit's slot; false (and nothing changed) if it was not outstanding.
  bool retire(uint64_t permit);

  // Every grant ever made, summed over the slots.
  uint64_t total_issued() const;

 private:
  static constexpr uint32_t kFirstChunkSlots = 16;
  static constexpr int kMaxChunks = 20;  // 16 * (2^20 - 1) slots: indexes fit kSlotBits
  struct Directory {
    std::atomic<Slot*> chunks[kMaxChunks] = {};
  };

  Slot& slot(uint32_t index) const;
  uint32_t grow(uint32_t seen_capacity);

  // Allocated lazily so that an idle limiter costs one pointer.
  std::atomic<Directory*> directory_{nullptr};
  std::atomic<uint32_t> capacity_{0};
};

}  // namespace ptl::core
