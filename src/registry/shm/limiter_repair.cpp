// SPDX-License-Identifier: MIT
// The crash side of limiter_ops.hpp: the lock with its repair, sweeps for dead
// processes, and removal.
#include <algorithm>
#include <cstring>

#include "log/log.hpp"
#include "registry/shm/grants.hpp"
#include "registry/shm/limiter_ops.hpp"
#include "registry/shm/policy_state.hpp"
#include "registry/shm/process_table.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/slots.hpp"
#include "registry/shm/sync.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {
namespace {

struct RepairCtx {
  Segment* seg;
  LimiterBlock* b;
};

void repair_cb(void* ctx) noexcept {
  auto* c = static_cast<RepairCtx*>(ctx);
  repair_limiter(*c->seg, *c->b);
}

}  // namespace

LimiterLock::LimiterLock(Segment& seg, LimiterBlock& b) : seg_(seg), b_(b) {
  relock();
}

LimiterLock::~LimiterLock() {
  if (held_) unlock();
}

void LimiterLock::unlock() {
  held_ = false;
  unlock_robust(&b_.mutex);
}

void LimiterLock::relock() {
  RepairCtx ctx{&seg_, &b_};
  lock_robust(&b_.mutex, repair_cb, &ctx, "an shm limiter's lock");
  held_ = true;
}

void repair_limiter(Segment& seg, LimiterBlock& b) noexcept {
  if (b.uid.load(std::memory_order_relaxed) == 0) return;  // removed or free: nothing lives here
  log::logger().warn("{}: a process died holding limiter '{}''s lock; rebuilding its state",
                     seg.uri(), name_of(b));
  // In this order: the slots tell which are held and waiting; a policy change the
  // holder died in is finished against them; the logs are made readable before a settle
  // the holder died in is redone into their entries; then every derived sum is rebuilt.
  slots_repair(seg, b);
  redo_policy_change(seg, b);
  for (LimitRecord& l : b.limits) {
    if (l.max != 0 && l.window_ns != 0) log_repair(seg, l, name_of(b));
  }
  grants_repair(seg, b);
  try {
    for (LimitRecord& l : b.limits) {
      if (l.max != 0 && l.window_ns != 0) log_recompute(seg, l);
    }
    recompute_held(seg, b);
  } catch (const std::exception& e) {
    log::logger().error("{}: limiter '{}': {}", seg.uri(), name_of(b), e.what());
  }
  try {
    // A grant or a wake-up the dead holder had not delivered yet: everyone looks again.
    for_each_used_slot(seg, b, [&](uint32_t, Slot& s) { notify(seg, s); });
  } catch (const std::exception& e) {
    log::logger().error("{}: limiter '{}': {}", seg.uri(), name_of(b), e.what());
  }
}

bool sweep(Segment& seg, LimiterBlock& b, core::Nanos now) {
  Liveness live(seg);
  uint32_t reclaimed = 0;
  b.last_sweep = now;
  for_each_used_slot(seg, b, [&](uint32_t index, Slot& s) {
    if (live.alive(s.owner, s.owner_generation)) return;
    const uint64_t state = s.word.load(std::memory_order_relaxed) & kStateMask;
    if (state == kWaiting) queue_unlink(seg, b, index);
    if (state == kHeld) {
      if (b.in_flight > 0) --b.in_flight;
      for (uint32_t i = 0; i < b.n_limits; ++i) {  // its held amounts come back
        LimitRecord& l = limit_at(b, i);
        if (l.window_ns == 0) l.held -= std::min(l.held, s.grant.charge[b.order[i] % kMaxLimits]);
      }
      ++b.total_reclaimed;
      ++reclaimed;
    }
    // One store: a later release of the dead holder's permit value finds it free.
    s.word.store(kFree, std::memory_order_release);
  });
  if (reclaimed > 0) {
    log::logger().warn("{}: limiter '{}': reclaimed {} permit(s) of dead processes", seg.uri(),
                       name_of(b), reclaimed);
  }
  return reclaimed > 0;
}

bool maybe_sweep(Segment& seg, LimiterBlock& b, core::Nanos retry_at) {
  // Only a release can help: a held limit is full, or others wait first.
  if (retry_at != core::kNever || (b.in_flight == 0 && b.waiting == 0)) return false;
  const core::Nanos now = core::monotonic_now();
  if (now - b.last_sweep < kSweepInterval) return false;
  const uint32_t waiting = b.waiting;
  const bool freed = sweep(seg, b, now);
  if (b.waiting > 0) dispatch(seg, b, now);
  return freed || b.waiting != waiting;
}

void close_limiter(Segment& seg, LimiterBlock& b) {
  // Wake before marking it removed, and again after. Before: a remover that dies in
  // between leaves no sleeper that missed the news (each re-checks under the lock).
  // After: an agent that peeked at the block just before the mark looks again.
  const auto wake_all = [&] {
    for_each_used_slot(seg, b, [&](uint32_t, Slot& s) { notify(seg, s); });
  };
  wake_all();
  b.uid.store(0, std::memory_order_release);
  wake_all();
  free_policy_blocks(seg, b);
  slots_free(seg, b);
}

}  // namespace ptl::shm
