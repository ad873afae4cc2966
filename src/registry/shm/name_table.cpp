// SPDX-License-Identifier: MIT
#include "registry/shm/name_table.hpp"

#include <cstring>

#include "core/status.hpp"
#include "log/log.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/segment.hpp"

namespace ptl::shm {
namespace {

constexpr uint64_t kMinCapacity = 16;
constexpr uint64_t kMaxCapacity = uint64_t{1} << 24;

uint64_t hash_of(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool is_live(uint64_t v) {
  return v != kNameEmpty && v != kNameTombstone;
}

struct Table {
  NameTable* t = nullptr;
  NameEntry* e = nullptr;
  uint64_t mask = 0;
};

Table table(Segment& seg, Offset off) {
  if (off == 0) return {};
  auto* t = seg.at<NameTable>(off);
  const uint64_t cap = t->capacity;
  if (cap < kMinCapacity || cap > kMaxCapacity || (cap & (cap - 1)) != 0) {
    core::fail(core::Status::kBackend, "shm segment " + seg.uri() + " has a corrupt name table");
  }
  return {t, seg.at<NameEntry>(off + sizeof(NameTable), cap), cap - 1};
}

bool same_name(Segment& seg, Offset limiter, std::string_view name) {
  const auto* b = seg.at<LimiterBlock>(limiter);
  return b->uid.load(std::memory_order_acquire) != 0 && b->name_len == name.size() &&
         std::memcmp(b->name, name.data(), name.size()) == 0;
}

// The slot of `name`, or the table's capacity if absent.
uint64_t find_index(Segment& seg, const Table& t, std::string_view name, uint64_t hash) {
  if (t.t == nullptr) return 0;
  for (uint64_t i = hash & t.mask, n = 0; n <= t.mask; i = (i + 1) & t.mask, ++n) {
    const NameEntry& e = t.e[i];
    if (e.limiter == kNameEmpty) break;
    if (is_live(e.limiter) && e.hash == hash && same_name(seg, e.limiter, name)) return i;
  }
  return t.mask + 1;
}

void place(const Table& t, Offset limiter, uint64_t hash) {
  uint64_t i = hash & t.mask;
  while (t.e[i].limiter != kNameEmpty) i = (i + 1) & t.mask;
  t.e[i].hash = hash;
  t.e[i].limiter = limiter;  // the publishing store
}

// A new table of `capacity` with every live entry of the old one, published in one
// store; a holder that dies half-way leaks the new block, the old table stays valid.
void rebuild(Segment& seg, uint64_t capacity) {
  Header& h = seg.header();
  const Table old = table(seg, h.names);
  const uint64_t bytes = sizeof(NameTable) + capacity * sizeof(NameEntry);
  const int cls = generic_class(bytes);
  const Block blk = arena_alloc(seg, kGeneric, cls, bytes);
  auto* nt = seg.at<NameTable>(blk.off);
  std::memset(static_cast<void*>(nt), 0, bytes);
  nt->capacity = capacity;
  const Table t = table(seg, blk.off);
  uint32_t live = 0;
  if (old.t != nullptr) {
    for (uint64_t i = 0; i <= old.mask; ++i) {
      if (is_live(old.e[i].limiter)) {
        place(t, old.e[i].limiter, old.e[i].hash);
        ++live;
      }
    }
  }
  const Offset old_off = h.names;
  const uint64_t old_bytes = old.t ? sizeof(NameTable) + (old.mask + 1) * sizeof(NameEntry) : 0;
  h.names = blk.off;
  h.names_live = live;
  h.names_used = live;
  if (old_off != 0) arena_free(seg, kGeneric, generic_class(old_bytes), old_off);
}

}  // namespace

Offset names_find(Segment& seg, std::string_view name) {
  const Table t = table(seg, seg.header().names);
  const uint64_t i = find_index(seg, t, name, hash_of(name));
  return t.t != nullptr && i <= t.mask ? t.e[i].limiter : 0;
}

void names_insert(Segment& seg, std::string_view name, Offset limiter) {
  Header& h = seg.header();
  Table t = table(seg, h.names);
  const uint64_t capacity = t.t ? t.mask + 1 : 0;
  if ((uint64_t{h.names_used} + 1) * 2 > capacity) {
    uint64_t want = kMinCapacity;
    while (want < (uint64_t{h.names_live} + 1) * 4) want *= 2;
    if (want > kMaxCapacity) {
      core::fail(core::Status::kBackend, "shm segment " + seg.uri() + " holds too many limiters");
    }
    rebuild(seg, want);
    t = table(seg, h.names);
  }
  place(t, limiter, hash_of(name));
  ++h.names_live;
  ++h.names_used;
}

bool names_erase(Segment& seg, std::string_view name, Offset limiter) {
  Header& h = seg.header();
  const Table t = table(seg, h.names);
  if (t.t == nullptr) return false;
  for (uint64_t i = hash_of(name) & t.mask, n = 0; n <= t.mask; i = (i + 1) & t.mask, ++n) {
    NameEntry& e = t.e[i];
    if (e.limiter == kNameEmpty) break;
    if (e.limiter == limiter) {
      e.limiter = kNameTombstone;  // the publishing store
      if (h.names_live > 0) --h.names_live;
      return true;
    }
  }
  return false;
}

std::vector<Offset> names_all(Segment& seg) {
  std::vector<Offset> out;
  const Table t = table(seg, seg.header().names);
  if (t.t == nullptr) return out;
  for (uint64_t i = 0; i <= t.mask; ++i) {
    const Offset off = t.e[i].limiter;
    if (is_live(off) && seg.at<LimiterBlock>(off)->uid.load(std::memory_order_acquire) != 0) {
      out.push_back(off);
    }
  }
  return out;
}

void names_repair(Segment& seg) noexcept {
  Header& h = seg.header();
  try {
    const Table t = table(seg, h.names);
    uint32_t live = 0, used = 0;
    if (t.t != nullptr) {
      for (uint64_t i = 0; i <= t.mask; ++i) {
        NameEntry& e = t.e[i];
        if (is_live(e.limiter) && seg.at<LimiterBlock>(e.limiter)->uid.load() == 0) {
          e.limiter = kNameTombstone;  // closed by a remover that died before erasing it
        }
        if (e.limiter != kNameEmpty) ++used;
        if (is_live(e.limiter)) ++live;
      }
    }
    h.names_live = live;
    h.names_used = used;
  } catch (const std::exception& e) {
    log::logger().error("{}: cannot repair the name table: {}", seg.uri(), e.what());
  }
}

}  // namespace ptl::shm
