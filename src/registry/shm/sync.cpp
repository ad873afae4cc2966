// SPDX-License-Identifier: MIT
#include "registry/shm/sync.hpp"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <string>
#include <system_error>

#include "core/status.hpp"

namespace ptl::shm {
namespace {

[[noreturn]] void fail_errno(const char* what, int err) {
  core::fail(core::Status::kBackend,
             std::string(what) + ": " + std::system_category().message(err));
}

}  // namespace

void init_robust_mutex(pthread_mutex_t* m) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc == 0) rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) fail_errno("cannot initialize a process-shared robust mutex", rc);
}

void lock_robust(pthread_mutex_t* m, RepairFn repair, void* ctx, const char* what) {
  const int rc = pthread_mutex_lock(m);
  if (rc == 0) return;
  if (rc == EOWNERDEAD) {
    // The holder died inside its critical section: rebuild, then let others in.
    if (repair != nullptr) repair(ctx);
    pthread_mutex_consistent(m);
    return;
  }
  if (rc == ENOTRECOVERABLE) {
    core::fail(core::Status::kBackend,
               std::string(what) + " is unrecoverable (a holder died and was never repaired)");
  }
  fail_errno(what, rc);
}

void unlock_robust(pthread_mutex_t* m) {
  pthread_mutex_unlock(m);
}

TryLock try_lock_robust(pthread_mutex_t* m) {
  const int rc = pthread_mutex_trylock(m);
  if (rc == 0) return TryLock::kAcquired;
  if (rc == EOWNERDEAD) return TryLock::kOwnerDied;
  return TryLock::kBusy;  // EBUSY, or ENOTRECOVERABLE: never ours to take
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, core::Nanos deadline) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline != core::kNever) {
    ts.tv_sec = static_cast<time_t>(deadline / 1000000000);
    ts.tv_nsec = static_cast<long>(deadline % 1000000000);
    timeout = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (no drift on
  // re-waits). Not FUTEX_PRIVATE_FLAG: the word is shared between processes.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_BITSET, expected, timeout,
          nullptr, FUTEX_BITSET_MATCH_ANY);
}

void futex_wake(std::atomic<uint32_t>* word, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, n, nullptr, nullptr, 0);
}

}  // namespace ptl::shm
