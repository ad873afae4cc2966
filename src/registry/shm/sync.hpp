// SPDX-License-Identifier: MIT
// Process-shared synchronization: robust mutexes and futexes on shared words.
//
// Every lock in the segment is a robust, process-shared pthread mutex: when its holder
// dies, the next locker gets EOWNERDEAD, rebuilds what the dead holder may have left
// half-done (its `repair`), and marks the mutex consistent. Sleeping is a futex wait
// on a word in the segment (shared futexes: never FUTEX_PRIVATE_FLAG), woken by whoever
// changes the word; deadlines are absolute CLOCK_MONOTONIC, the clock of the whole core.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

#include "core/clock.hpp"

namespace ptl::shm {

// Initializes a robust, process-shared mutex. Throws StatusError(kBackend).
void init_robust_mutex(pthread_mutex_t* m);

// Called with the mutex held after its previous holder died. Must not throw.
using RepairFn = void (*)(void* ctx) noexcept;

// Locks m; if its last holder died, runs repair(ctx) and marks m consistent.
// Throws StatusError(kBackend) naming `what` if m is unusable.
void lock_robust(pthread_mutex_t* m, RepairFn repair, void* ctx, const char* what);
void unlock_robust(pthread_mutex_t* m);

enum class TryLock { kAcquired, kBusy, kOwnerDied };
// Never blocks. kOwnerDied: the caller now holds m and must make it consistent
// (pthread_mutex_consistent) before unlocking it.
TryLock try_lock_robust(pthread_mutex_t* m);

// A held robust lock, released at scope exit.
class RobustGuard {
 public:
  RobustGuard(pthread_mutex_t* m, RepairFn repair, void* ctx, const char* what) : m_(m) {
    lock_robust(m, repair, ctx, what);
  }
  RobustGuard(const RobustGuard&) = delete;
  RobustGuard& operator=(const RobustGuard&) = delete;
  ~RobustGuard() { unlock_robust(m_); }

 private:
  pthread_mutex_t* m_;
};

// Sleeps while *word == expected, until woken or `deadline` (absolute monotonic ns;
// kNever = no deadline). Spurious returns are possible: callers re-check their state.
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, core::Nanos deadline);
// Wakes up to n sleepers on word.
void futex_wake(std::atomic<uint32_t>* word, int n);

// Bumps the word and wakes its sleepers: the one way to tell a sleeper "look again".
inline void bump_and_wake(std::atomic<uint32_t>* word, int n) {
  word->fetch_add(1, std::memory_order_release);
  futex_wake(word, n);
}

}  // namespace ptl::shm
