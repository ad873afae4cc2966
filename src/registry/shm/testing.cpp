// SPDX-License-Identifier: MIT
#include "registry/shm/testing.hpp"

#include <signal.h>
#include <unistd.h>

#include "registry/shm/limiter_ops.hpp"
#include "registry/shm/name_table.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/shm_registry.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm::testing {
namespace {

Segment& segment_of(core::RegistryBackend& reg) {
  auto* shm = dynamic_cast<ShmRegistry*>(&reg);
  if (shm == nullptr) core::fail(core::Status::kInvalid, "not an shm:// registry");
  return shm->segment();
}

LimiterBlock& limiter_of(Segment& seg, std::string_view name) {
  Offset off = 0;
  {
    RobustGuard lock(&seg.header().registry_mutex, nullptr, nullptr, "the registry lock");
    off = names_find(seg, name);
  }
  if (off == 0) core::fail(core::Status::kNotFound, "no limiter named " + std::string(name));
  return *seg.at<LimiterBlock>(off);
}

[[noreturn]] void die() {
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

}  // namespace

void die_in_limiter_lock(core::RegistryBackend& reg, std::string_view name) {
  Segment& seg = segment_of(reg);
  LimiterBlock& b = limiter_of(seg, name);
  lock_robust(&b.mutex, nullptr, nullptr, "a limiter lock");
  bool halved = false;
  for_each_used_slot(seg, b, [&](uint32_t, Slot& s) {
    if (!halved && s.owner == seg.self() &&
        (s.word.load(std::memory_order_relaxed) & kStateMask) == kHeld) {
      s.word.store(kFree, std::memory_order_release);  // freed, but in_flight not counted down
      halved = true;
    }
  });
  b.in_flight = 12345;
  b.waiting = 777;
  b.queue_head = 99999;
  b.queue_tail = 3;
  for (LimitRecord& l : b.limits) {
    l.sum = 424242;
    l.held = 424242;
  }
  die();
}

void die_in_registry_lock(core::RegistryBackend& reg, std::string_view name) {
  Segment& seg = segment_of(reg);
  Header& h = seg.header();
  lock_robust(&h.registry_mutex, nullptr, nullptr, "the registry lock");
  const Offset off = names_find(seg, name);
  if (off != 0) {
    LimiterBlock& b = *seg.at<LimiterBlock>(off);
    lock_robust(&b.mutex, nullptr, nullptr, "a limiter lock");
    close_limiter(seg, b);  // closed and freed inside, but still named
    unlock_robust(&b.mutex);
  }
  h.names_live = 0xFFFF;
  h.names_used = 0xFFFF;
  die();
}

void die_in_arena_lock(core::RegistryBackend& reg) {
  Segment& seg = segment_of(reg);
  Header& h = seg.header();
  lock_robust(&h.arena_mutex, nullptr, nullptr, "the arena lock");
  h.free_heads[kGeneric][3] = 12345;  // not a block: the next allocation would go astray
  die();
}

void drop_window_log(core::RegistryBackend& reg, std::string_view name) {
  Segment& seg = segment_of(reg);
  LimiterBlock& b = limiter_of(seg, name);
  LimiterLock lock(seg, b);
  for (LimitRecord& l : b.limits) {
    if (l.max == 0 || l.window_ns == 0) continue;
    l.log = 0;  // leaked, as by log_repair: an unreadable log is not freed
    l.log_begin = l.log_end = 0;
    l.sum = 0;
  }
}

uint64_t fill_arena(core::RegistryBackend& reg) {
  Segment& seg = segment_of(reg);
  Header& h = seg.header();
  RobustGuard lock(&h.arena_mutex, nullptr, nullptr, "the arena lock");
  const uint64_t saved = h.arena_top;
  h.arena_top = kMaxSegmentBytes;  // the bump region is used up
  return saved;
}

void restore_arena(core::RegistryBackend& reg, uint64_t saved) {
  Segment& seg = segment_of(reg);
  Header& h = seg.header();
  RobustGuard lock(&h.arena_mutex, nullptr, nullptr, "the arena lock");
  h.arena_top = saved;
}

}  // namespace ptl::shm::testing
