// SPDX-License-Identifier: MIT
// Time in the core: CLOCK_MONOTONIC in nanoseconds, and the Clock a limiter takes it from.
//
// Plain int64 nanoseconds (not chrono types) because every deadline and window entry is
// stored and compared as an integer, and INT64_MAX doubles as "never".
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>

namespace ptl::core {

using Nanos = int64_t;
inline constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

inline Nanos monotonic_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// now + delta without overflow; a negative delta means "forever".
inline Nanos deadline_after(Nanos now, Nanos delta) {
  if (delta < 0 || delta > kNever - now) return kNever;
  return now + delta;
}

inline std::chrono::steady_clock::time_point to_time_point(Nanos t) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t));
}

// Where a limiter reads the time and how it waits for a time to come. The process's
// steady_clock() is the default; a test hands a limiter a clock it moves itself, so that
// windows, timeouts and penalties run on simulated time instead of sleeping.
class Clock {
 public:
  virtual ~Clock() = default;

  virtual Nanos now() const = 0;
  // A time no later than now(), for checks that need only a lower bound; may be cheaper
  // and up to a scheduler tick older (the steady clock reads CLOCK_MONOTONIC_COARSE).
  virtual Nanos now_lower_bound() const { return now(); }
  // Waits on cv, which `lock` (held) guards, until notified or until now() >= deadline
  // (kNever: until notified). May return early: every caller checks again.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          Nanos deadline) const = 0;
  // Runs fn once, at or after `at` by this clock, on a thread that holds no limiter lock.
  virtual void run_at(Nanos at, std::function<void()> fn) const = 0;
};

// CLOCK_MONOTONIC, real waits, and the library's timer thread (TimerService).
const Clock& steady_clock();

}  // namespace ptl::core
