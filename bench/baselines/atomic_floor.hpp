// SPDX-License-Identifier: MIT
// AtomicFloor: the least any concurrency limiter can cost, one atomic read-modify-write
// to take a slot under the limit and one to give it back.
//
// It keeps no permit identity, no queue and no window, so it cannot tell a double
// release from a real one or wake anybody; a real limiter must do at least this much.
// Header-only and inline on purpose: the strictest floor has no call overhead either.
#pragma once

#include <atomic>
#include <cstdint>

namespace ptl::bench {

class AtomicFloor {
 public:
  explicit AtomicFloor(uint32_t max_concurrent) : max_concurrent_(max_concurrent) {}

  // CAS rather than fetch_add: a fetch_add past the limit would have to be undone,
  // and other threads would briefly see the overshoot.
  bool try_acquire() {
    uint32_t n = count_.load(std::memory_order_relaxed);
    do {
      if (n >= max_concurrent_) return false;
    } while (!count_.compare_exchange_weak(n, n + 1, std::memory_order_acquire,
                                           std::memory_order_relaxed));
    return true;
  }

  void release() { count_.fetch_sub(1, std::memory_order_release); }

 private:
  // Own cache line: two threads hammer it, nothing else should share it.
  alignas(64) std::atomic<uint32_t> count_{0};
  const uint32_t max_concurrent_;
};

}  // namespace ptl::bench
