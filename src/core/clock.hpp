// The one clock of the in-process core: CLOCK_MONOTONIC in nanoseconds.
//
// Plain int64 nanoseconds (not chrono types) because every deadline and window entry is
// stored and compared as an integer, and INT64_MAX doubles as "never".
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

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

}  // namespace ptl::core
