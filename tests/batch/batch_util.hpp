// SPDX-License-Identifier: MIT
// Helpers of the batch suites: options in one line, an in-flight witness for items, and
// a simulated upstream API whose concurrency limit the client does not know.
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "grant_observer.hpp"

namespace ptl_test {

inline ptl_batch_options batch_options(uint32_t max_concurrent, uint64_t max_per_window = 0,
                                       double window_seconds = 60.0) {
  ptl_batch_options o;
  ptl_batch_options_init(&o);
  o.limits.max_concurrent = max_concurrent;
  o.limits.max_per_window = max_per_window;
  o.limits.window_seconds = window_seconds;
  return o;
}

inline ptl_batch_report empty_report() {
  ptl_batch_report r{};
  r.struct_size = sizeof(r);
  return r;
}

inline void sleep_us(int64_t us) {
  std::this_thread::sleep_for(std::chrono::microseconds(us));
}

// Counts calls in flight and the most seen at once. Raised at a call's start and
// lowered at its end, inside the permit's life, so it never exceeds the true count.
class InFlight {
 public:
  int64_t enter() {
    const int64_t now = current_.fetch_add(1, std::memory_order_acq_rel) + 1;
    int64_t seen = peak_.load(std::memory_order_relaxed);
    while (now > seen && !peak_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
    return now;
  }
  void leave() { current_.fetch_sub(1, std::memory_order_acq_rel); }
  int64_t peak() const { return peak_.load(std::memory_order_acquire); }
  int64_t current() const { return current_.load(std::memory_order_acquire); }

 private:
  std::atomic<int64_t> current_{0};
  std::atomic<int64_t> peak_{0};
};

// An upstream with a hidden concurrency limit: a call made while `hidden` others are in
// flight is refused with 429 at once (as real APIs do), otherwise it takes call_us.
class HiddenLimitApi {
 public:
  HiddenLimitApi(int64_t hidden, int64_t call_us) : hidden_(hidden), call_us_(call_us) {}

  // PTL_OK or PTL_ERATELIMITED.
  int call() {
    if (in_flight_.enter() > hidden_) {
      in_flight_.leave();
      refused_.fetch_add(1, std::memory_order_relaxed);
      return PTL_ERATELIMITED;
    }
    sleep_us(call_us_);
    in_flight_.leave();
    served_.fetch_add(1, std::memory_order_relaxed);
    return PTL_OK;
  }
  int64_t refused() const { return refused_.load(); }
  int64_t served() const { return served_.load(); }
  int64_t hidden() const { return hidden_; }

 private:
  const int64_t hidden_;
  const int64_t call_us_;
  InFlight in_flight_;
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> served_{0};
};

}  // namespace ptl_test
