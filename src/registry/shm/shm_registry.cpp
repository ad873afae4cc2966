// SPDX-License-Identifier: MIT
#include "registry/shm/shm_registry.hpp"

#include <algorithm>
#include <cstring>

#include "log/log.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/limiter_ops.hpp"
#include "registry/shm/name_table.hpp"
#include "registry/shm/policy_state.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/shm_limiter.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm {
namespace {

void repair_registry(void* ctx) noexcept {
  auto* seg = static_cast<Segment*>(ctx);
  log::logger().warn("{}: a process died holding the registry lock; repairing", seg->uri());
  names_repair(*seg);
}

// The registry lock: names and the set of limiters change only under it. Limiter locks
// and the arena lock may be taken under it, never the reverse.
class RegistryLock {
 public:
  explicit RegistryLock(Segment& seg)
      : guard_(&checked(seg).header().registry_mutex, repair_registry, &seg,
               "the shm registry lock") {}

 private:
  static Segment& checked(Segment& seg) {
    seg.check_process();  // before locking: a forked child must not touch the segment
    return seg;
  }
  RobustGuard guard_;
};

LimiterBlock& block_at(Segment& seg, Offset off) {
  return *seg.at<LimiterBlock>(off);
}

// Gives a block that did not become a limiter back, with its window logs if it got any.
void discard_block(Segment& seg, Offset off) {
  LimiterBlock& b = block_at(seg, off);
  {
    LimiterLock lock(seg, b);
    b.uid.store(0, std::memory_order_release);
    free_policy_blocks(seg, b);
  }
  arena_free(seg, kLimiterKind, 0, off);
}

// A new limiter named `name`, initialized under its own lock and published by one
// store of its name entry (a creator that dies before that leaks the block). Everything
// it needs is allocated first, so a full segment fails the register and leaves nothing.
Offset create_locked(Segment& seg, std::string_view name, const core::PolicySpec& policy) {
  const Block blk = arena_alloc(seg, kLimiterKind, 0, sizeof(LimiterBlock));
  LimiterBlock& b = block_at(seg, blk.off);
  if (blk.fresh) init_robust_mutex(&b.mutex);  // once for the block's whole life
  try {
    LimiterLock lock(seg, b);  // stale handles of an earlier limiter here may lock it
    // No policy yet: the change below starts from nothing (a reused block's logs went
    // back with its limiter; whatever a crashed remover left is leaked, not reused).
    b.n_limits = 0;
    std::fill(std::begin(b.limits), std::end(b.limits), LimitRecord{});
    std::fill(std::begin(b.units), std::end(b.units), UnitRecord{});
    b.pending_policy = 0;
    b.released = 0;
    b.released_begin = b.released_end = 0;
    b.settle = SettleIntent{};
    b.in_flight = b.waiting = 0;
    b.queue_head = b.queue_tail = kNil;
    b.slot_capacity = b.slot_hint = 0;
    b.next_ticket = 1;
    b.serial_next = b.serial_end = 0;
    b.penalty_until = 0;
    b.last_sweep = 0;
    std::fill(std::begin(b.chunks), std::end(b.chunks), Offset{0});
    b.total_acquired = b.total_timeouts = b.total_cancelled = 0;
    b.total_rejected = b.total_wait_ns = b.total_reclaimed = 0;
    std::memset(b.name, 0, sizeof b.name);
    std::memcpy(b.name, name.data(), name.size());
    b.name_len = static_cast<uint32_t>(name.size());
    change_policy(seg, b, policy);  // a full segment: an error, and nothing registered
    b.uid.store(seg.header().next_uid.fetch_add(1, std::memory_order_relaxed) + 1,
                std::memory_order_release);
  } catch (...) {
    arena_free(seg, kLimiterKind, 0, blk.off);
    throw;
  }
  try {
    names_insert(seg, name, blk.off);
  } catch (...) {
    discard_block(seg, blk.off);
    throw;
  }
  return blk.off;
}

core::LimiterPtr handle(const std::shared_ptr<Segment>& seg, Offset off, std::string_view name) {
  LimiterBlock& b = block_at(*seg, off);
  return core::LimiterPtr(
      new ShmLimiter(seg, &b, b.uid.load(std::memory_order_acquire), std::string(name)), false);
}

}  // namespace

std::unique_ptr<core::RegistryBackend> open_shm_registry(std::string_view uri) {
  return std::make_unique<ShmRegistry>(parse_shm_uri(uri));
}

ShmRegistry::ShmRegistry(const ShmUri& uri) : seg_(Segment::attach(uri)) {}

ShmRegistry::~ShmRegistry() {
  seg_->drop_user();
}

void ShmRegistry::register_limiter(std::string_view name, const core::PolicySpec& policy,
                                   bool replace) {
  policy.validate();
  RegistryLock lock(*seg_);
  const Offset off = names_find(*seg_, name);
  if (off == 0) {
    create_locked(*seg_, name, policy);
    return;
  }
  if (!replace)
    core::fail(core::Status::kExists, "limiter '" + std::string(name) + "' already exists");
  // In place, under the registry lock: nobody can remove it meanwhile.
  LimiterBlock& b = block_at(*seg_, off);
  LimiterLock limiter_lock(*seg_, b);
  change_policy(*seg_, b, policy);  // a full segment: an error, and the policy unchanged
  const core::Nanos now = core::monotonic_now();
  finish_too_big(*seg_, b, now);
  if (b.waiting > 0) dispatch(*seg_, b, now);
}

core::LimiterPtr ShmRegistry::get(std::string_view name) {
  Offset off = 0;
  {
    RegistryLock lock(*seg_);
    off = names_find(*seg_, name);
    // The uid is read now: if the limiter is removed before the handle is used, the
    // handle answers kClosed, never another limiter's state.
    if (off != 0) return handle(seg_, off, name);
  }
  return nullptr;
}

core::LimiterPtr ShmRegistry::get_or_create(std::string_view name, const core::PolicySpec& policy) {
  policy.validate();
  RegistryLock lock(*seg_);
  Offset off = names_find(*seg_, name);
  if (off == 0) off = create_locked(*seg_, name, policy);
  return handle(seg_, off, name);
}

bool ShmRegistry::exists(std::string_view name) {
  RegistryLock lock(*seg_);
  return names_find(*seg_, name) != 0;
}

bool ShmRegistry::remove(std::string_view name) {
  RegistryLock lock(*seg_);
  const Offset off = names_find(*seg_, name);
  if (off == 0) return false;
  {
    LimiterLock limiter_lock(*seg_, block_at(*seg_, off));
    close_limiter(*seg_, block_at(*seg_, off));
  }
  names_erase(*seg_, name, off);
  arena_free(*seg_, kLimiterKind, 0, off);
  log::logger().info("{}: removed limiter '{}'", seg_->uri(), name);
  return true;
}

void ShmRegistry::reset() {
  RegistryLock lock(*seg_);
  for (const Offset off : names_all(*seg_)) {
    LimiterBlock& b = block_at(*seg_, off);
    const std::string name(b.name, std::min<size_t>(b.name_len, kMaxNameBytes));
    {
      LimiterLock limiter_lock(*seg_, b);
      close_limiter(*seg_, b);
    }
    names_erase(*seg_, name, off);
    arena_free(*seg_, kLimiterKind, 0, off);
  }
}

std::vector<core::NamedConfig> ShmRegistry::list() {
  std::vector<core::NamedConfig> out;
  {
    RegistryLock lock(*seg_);
    for (const Offset off : names_all(*seg_)) {
      LimiterBlock& b = block_at(*seg_, off);
      LimiterLock limiter_lock(*seg_, b);
      out.push_back({std::string(name_of(b)), policy_of(*seg_, b).to_config()});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const core::NamedConfig& a, const core::NamedConfig& b) { return a.name < b.name; });
  return out;
}

}  // namespace ptl::shm
