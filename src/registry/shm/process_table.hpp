// SPDX-License-Identifier: MIT
// The process table: who is attached, and whether a permit's owner is still alive.
//
// An owner is (entry index, generation). It is alive exactly while its agent thread
// holds the entry's robust `alive` mutex with that generation: a try-lock answers
// without a system call, and a dead owner (killed, crashed, exited without detaching)
// shows as EOWNERDEAD or a free mutex. A reused pid or a reused entry cannot pass for
// the old owner, because the generation changes with every claim.
#pragma once

#include <cstdint>

#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

// Claims a free (or dead) entry for the calling thread, which then holds its alive lock
// until release_proc_entry. Throws StatusError(kBackend) when all kMaxProcesses are taken.
uint32_t claim_proc_entry(Segment& seg, uint64_t* generation);
void release_proc_entry(Segment& seg, uint32_t index);

// Wakes the agent of the process at `index` (its async waiters changed).
void ring_doorbell(Segment& seg, uint32_t index);

// Liveness answers, remembered for one pass (a sweep or a dispatch) so that each owner
// is tried once however many slots it holds.
class Liveness {
 public:
  explicit Liveness(Segment& seg) : seg_(seg) {}
  bool alive(uint32_t owner, uint64_t generation);

 private:
  struct Known {
    uint32_t owner;
    uint64_t generation;
    bool alive;
  };
  static constexpr int kRemembered = 32;  // no allocation under a lock; more are re-tried
  Segment& seg_;
  Known known_[kRemembered];
  int count_ = 0;
};

}  // namespace ptl::shm
