// SPDX-License-Identifier: MIT
// Thread-safety annotations and the annotated mutexes the library's locks use.
//
// With clang and -Wthread-safety (cmake -DPTL_THREAD_SAFETY=ON), the compiler checks
// that a member marked PTL_GUARDED_BY(mu) is only touched with mu held and that a
// function marked PTL_REQUIRES(mu) is only called with it held, so the locking rules
// live in the code instead of in comments. On GCC every macro expands to nothing and
// Mutex is a std::mutex with the same cost.
//
// Mutex, MutexLock and UniqueLock replace std::mutex, std::lock_guard and
// std::unique_lock: the standard types carry no annotations, so clang cannot see what
// they lock. A condition variable waits on UniqueLock::native(); clang takes the mutex
// as held across the wait, which is true whenever wait() returns.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define PTL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PTL_THREAD_ANNOTATION(x)
#endif

#define PTL_CAPABILITY(x) PTL_THREAD_ANNOTATION(capability(x))
#define PTL_SCOPED_CAPABILITY PTL_THREAD_ANNOTATION(scoped_lockable)
#define PTL_GUARDED_BY(x) PTL_THREAD_ANNOTATION(guarded_by(x))
#define PTL_PT_GUARDED_BY(x) PTL_THREAD_ANNOTATION(pt_guarded_by(x))
#define PTL_REQUIRES(...) PTL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define PTL_REQUIRES_SHARED(...) PTL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define PTL_ACQUIRE(...) PTL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define PTL_ACQUIRE_SHARED(...) PTL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define PTL_RELEASE(...) PTL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define PTL_RELEASE_SHARED(...) PTL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define PTL_RELEASE_GENERIC(...) PTL_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define PTL_ASSERT_CAPABILITY(x) PTL_THREAD_ANNOTATION(assert_capability(x))
#define PTL_TRY_ACQUIRE(...) PTL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define PTL_EXCLUDES(...) PTL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define PTL_RETURN_CAPABILITY(x) PTL_THREAD_ANNOTATION(lock_returned(x))
#define PTL_NO_THREAD_SAFETY_ANALYSIS PTL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace ptl::core {

class UniqueLock;

// std::mutex with its operations annotated.
class PTL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() PTL_ACQUIRE() { mu_.lock(); }
  void unlock() PTL_RELEASE() { mu_.unlock(); }
  bool try_lock() PTL_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells clang the caller holds the mutex, where a caller up the stack took it through
  // an expression clang cannot follow. Checks nothing at run time (std::mutex cannot).
  void assert_held() const PTL_ASSERT_CAPABILITY(this) {}

 private:
  friend class UniqueLock;
  std::mutex mu_;
};

// std::lock_guard over a Mutex: held from construction to the end of the scope.
class PTL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) PTL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() PTL_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// std::unique_lock over a Mutex, for condition variables and for scopes that drop the
// lock part way (unlock() / lock()). Always locked on construction.
class PTL_SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(Mutex& mu) PTL_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~UniqueLock() PTL_RELEASE() = default;
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  void lock() PTL_ACQUIRE() { lock_.lock(); }
  void unlock() PTL_RELEASE() { lock_.unlock(); }

  // For std::condition_variable::wait*: it unlocks and relocks inside the call only.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// std::shared_mutex with its operations annotated: exclusive for writers, shared for
// readers.
class PTL_CAPABILITY("mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() PTL_ACQUIRE() { mu_.lock(); }
  void unlock() PTL_RELEASE() { mu_.unlock(); }
  void lock_shared() PTL_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() PTL_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// std::unique_lock<std::shared_mutex>: exclusive for the scope.
class PTL_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) PTL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() PTL_RELEASE() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

// std::shared_lock<std::shared_mutex>: shared for the scope.
class PTL_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) PTL_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  // Generic: clang matches it to the shared acquire above.
  ~ReaderLock() PTL_RELEASE_GENERIC() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace ptl::core
