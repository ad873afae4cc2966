// SPDX-License-Identifier: MIT
// ManualClock: a core::Clock whose time moves only when the test says so.
//
// A limiter built on it reads simulated time; advance() moves the time and runs the timers
// (asynchronous timeouts, wake-ups) that fall due, on the calling thread. A thread blocked
// in the limiter waits in short real slices and looks at the time again after each, so a
// test advances time and then waits (with a real time bound) for the outcome it expects.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "core/clock.hpp"

namespace ptl_test {

class ManualClock final : public ptl::core::Clock {
 public:
  using Nanos = ptl::core::Nanos;

  // Starts at `start`, far from 0 so that "time - window" never goes below zero.
  explicit ManualClock(Nanos start = 1'000'000'000'000) : now_(start) {}
  ~ManualClock() override {
    // Timers may own the last reference to a limiter: drop them while this is whole.
    std::multimap<Nanos, std::function<void()>> dropped;
    std::lock_guard<std::mutex> lock(mutex_);
    dropped.swap(timers_);
  }
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  Nanos now() const override { return now_.load(std::memory_order_acquire); }

  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  Nanos deadline) const override {
    // advance() cannot reach this cv: a short real slice, then the caller looks again.
    if (deadline != ptl::core::kNever && now() >= deadline) return;
    cv.wait_for(lock, std::chrono::microseconds(200));
  }

  void run_at(Nanos at, std::function<void()> fn) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    timers_.emplace(at, std::move(fn));
  }

  // Moves time forward by d (>= 0) and runs every timer now due, in time order.
  void advance(Nanos d) {
    now_.fetch_add(d, std::memory_order_acq_rel);
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (timers_.empty() || timers_.begin()->first > now()) return;
        fn = std::move(timers_.begin()->second);
        timers_.erase(timers_.begin());
      }
      fn();  // outside the lock: it takes the limiter's, and may schedule again
    }
  }

  size_t pending_timers() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return timers_.size();
  }

 private:
  std::atomic<Nanos> now_;
  mutable std::mutex mutex_;
  mutable std::multimap<Nanos, std::function<void()>> timers_;
};

}  // namespace ptl_test
