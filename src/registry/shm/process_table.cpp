// SPDX-License-Identifier: MIT
#include "registry/shm/process_table.hpp"

#include <unistd.h>

#include "core/status.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/sync.hpp"

namespace ptl::shm {

uint32_t claim_proc_entry(Segment& seg, uint64_t* generation) {
  Header& h = seg.header();
  for (uint32_t i = 0; i < kMaxProcesses; ++i) {
    ProcEntry& e = seg.proc(i);
    const TryLock r = try_lock_robust(&e.alive);
    if (r == TryLock::kBusy) continue;  // a live process (or a checker, for an instant)
    if (r == TryLock::kOwnerDied) pthread_mutex_consistent(&e.alive);
    // Ours now. A new generation first: slots of the entry's previous owner no longer
    // match it, so they read as dead from this store on.
    const uint64_t gen = h.next_generation.fetch_add(1, std::memory_order_relaxed) + 1;
    e.generation.store(gen, std::memory_order_release);
    e.pid.store(static_cast<int32_t>(getpid()), std::memory_order_relaxed);
    *generation = gen;
    return i;
  }
  core::fail(core::Status::kBackend, "shm segment " + seg.uri() + " has no free process entry (" +
                                         std::to_string(kMaxProcesses) + " processes attached)");
}

void release_proc_entry(Segment& seg, uint32_t index) {
  ProcEntry& e = seg.proc(index);
  e.pid.store(0, std::memory_order_relaxed);
  unlock_robust(&e.alive);
}

void ring_doorbell(Segment& seg, uint32_t index) {
  if (index >= kMaxProcesses) return;
  bump_and_wake(&seg.proc(index).doorbell, 1);
}

bool Liveness::alive(uint32_t owner, uint64_t generation) {
  if (owner == seg_.self() && generation == seg_.generation()) return true;
  if (owner >= kMaxProcesses) return false;  // corrupt: nobody can hold it
  for (int i = 0; i < count_; ++i) {
    if (known_[i].owner == owner && known_[i].generation == generation) return known_[i].alive;
  }
  ProcEntry& e = seg_.proc(owner);
  bool alive = false;
  if (e.generation.load(std::memory_order_acquire) == generation) {
    switch (try_lock_robust(&e.alive)) {
      case TryLock::kBusy:
        alive = true;  // held: by its owner (or, for an instant, by another checker)
        break;
      case TryLock::kOwnerDied:
        pthread_mutex_consistent(&e.alive);
        unlock_robust(&e.alive);
        break;
      case TryLock::kAcquired:  // released: the owner detached
        unlock_robust(&e.alive);
        break;
    }
  }
  if (count_ < kRemembered) known_[count_++] = {owner, generation, alive};
  return alive;
}

}  // namespace ptl::shm
