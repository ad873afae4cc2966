// SPDX-License-Identifier: MIT
#include "core/permit_table.hpp"

#include <bit>
#include <mutex>

#include "core/status.hpp"

namespace ptl::core {
namespace {

constexpr uint64_t kSerialMask = (uint64_t{1} << (64 - PermitTable::kSlotBits)) - 1;
constexpr uint64_t kSerialBlock = 1024;

std::atomic<uint64_t> g_next_serial_block{1};

// Per-thread state of the hot path. initial-exec TLS: the default model for a shared
// library calls __tls_get_addr on every access, which cost more than the rest of an
// acquire. The block is a few bytes, well within glibc's reserve for dlopen'ed libraries.
struct ThreadCache {
  uint64_t next_serial = 0;  // serials are handed out in blocks: no shared cache line
  uint64_t serial_end = 0;
  uint32_t slot_hint = 0;  // the slot last used: right after a release it is free and hot
};
__attribute__((tls_model("initial-exec"))) thread_local ThreadCache t_cache;

// Uniqueness is what matters, not order.
uint64_t next_serial() {
  ThreadCache& c = t_cache;
  if (c.next_serial == c.serial_end) {
    c.next_serial = g_next_serial_block.fetch_add(kSerialBlock, std::memory_order_relaxed);
    c.serial_end = c.next_serial + kSerialBlock;
  }
  const uint64_t serial = c.next_serial++ & kSerialMask;
  return serial == 0 ? 1 : serial;  // keeps every permit non-zero
}

// Growth is rare (a limiter reaching a new peak), so one lock serves every table.
std::mutex g_grow_mutex;

}  // namespace

PermitTable::~PermitTable() {
  Directory* dir = directory_.load(std::memory_order_acquire);
  if (dir == nullptr) return;
  for (auto& chunk : dir->chunks) delete[] chunk.load(std::memory_order_relaxed);
  delete dir;
}

PermitTable::Slot& PermitTable::slot(uint32_t index) const {
  const uint32_t q = index / kFirstChunkSlots + 1;
  const int chunk = static_cast<int>(std::bit_width(q)) - 1;
  const uint32_t offset = index - kFirstChunkSlots * ((uint32_t{1} << chunk) - 1);
  Directory* dir = directory_.load(std::memory_order_acquire);
  return dir->chunks[chunk].load(std::memory_order_acquire)[offset];
}

uint64_t PermitTable::issue(uint64_t in_flight) {
  const uint64_t serial = next_serial();
  uint32_t capacity = capacity_.load(std::memory_order_acquire);
  if (capacity < 2 * in_flight && capacity < kMaxSlots) capacity = grow(capacity);
  for (;;) {
    const uint32_t start = t_cache.slot_hint < capacity ? t_cache.slot_hint : 0;
    for (uint32_t probe = 0; probe < capacity; ++probe) {
      uint32_t index = start + probe;
      if (index >= capacity) index -= capacity;
      Slot& s = slot(index);
      const uint64_t permit = (serial << kSlotBits) | index;
      uint64_t expected = 0;
      if (s.permit.load(std::memory_order_relaxed) == 0 &&
          s.permit.compare_exchange_strong(expected, permit, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
        s.uses.store(s.uses.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        s.cost_entry.store(0, std::memory_order_relaxed);
        t_cache.slot_hint = index;
        return permit;
      }
    }
    capacity = grow(capacity);
  }
}

PermitTable::Slot* PermitTable::find(uint64_t permit) const {
  if (permit == 0) return nullptr;
  const auto index = static_cast<uint32_t>(permit & kSlotMask);
  if (index >= capacity_.load(std::memory_order_acquire)) return nullptr;
  Slot& s = slot(index);
  return s.permit.load(std::memory_order_acquire) == permit ? &s : nullptr;
}

bool PermitTable::retire(uint64_t permit) {
  if (permit == 0) return false;
  const auto index = static_cast<uint32_t>(permit & kSlotMask);
  if (index >= capacity_.load(std::memory_order_acquire)) return false;
  uint64_t expected = permit;
  if (!slot(index).permit.compare_exchange_strong(expected, 0, std::memory_order_release,
                                                  std::memory_order_relaxed)) {
    return false;
  }
  t_cache.slot_hint = index;
  return true;
}

uint64_t PermitTable::total_issued() const {
  const uint32_t capacity = capacity_.load(std::memory_order_acquire);
  uint64_t total = 0;
  for (uint32_t i = 0; i < capacity; ++i) total += slot(i).uses.load(std::memory_order_relaxed);
  return total;
}

uint32_t PermitTable::grow(uint32_t seen_capacity) {
  std::lock_guard<std::mutex> lock(g_grow_mutex);
  const uint32_t capacity = capacity_.load(std::memory_order_acquire);
  if (capacity != seen_capacity) return capacity;  // another thread grew it meanwhile
  Directory* dir = directory_.load(std::memory_order_acquire);
  if (dir == nullptr) {
    dir = new Directory;
    directory_.store(dir, std::memory_order_release);
  }
  const int chunk = static_cast<int>(std::bit_width(capacity / kFirstChunkSlots + 1)) - 1;
  if (chunk >= kMaxChunks) {
    fail(Status::kNoMemory, "more than 16777200 permits outstanding on one limiter");
  }
  const uint32_t size = kFirstChunkSlots << chunk;
  dir->chunks[chunk].store(new Slot[size], std::memory_order_release);
  capacity_.store(capacity + size, std::memory_order_release);
  return capacity + size;
}

}  // namespace ptl::core
