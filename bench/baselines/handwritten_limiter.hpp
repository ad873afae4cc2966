// SPDX-License-Identifier: MIT
// HandwrittenLimiter: the limiter a user writes when no library is at hand, the
// baseline the local backend must beat.
//
// One std::mutex guards everything; a std::condition_variable parks waiters; a
// std::deque of grant times is the strict sliding window (an entry at t counts over
// the closed interval [T - window, T], the same rule as the core). It is written the
// straightforward way, not tuned: notify_one on every release, clock read under the
// lock, no fast path for the concurrency-only case beyond skipping the clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace ptl::bench {

class HandwrittenLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // max_per_window == 0: concurrency only, the clock is never read.
  HandwrittenLimiter(uint32_t max_concurrent, uint64_t max_per_window,
                     std::chrono::nanoseconds window)
      : max_concurrent_(max_concurrent), max_per_window_(max_per_window), window_(window) {}

  void acquire() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (in_flight_ >= max_concurrent_) {
        cv_.wait(lock);  // a release notifies
        continue;
      }
      if (max_per_window_ == 0) break;
      const Clock::time_point now = Clock::now();
      while (!grants_.empty() && grants_.front() < now - window_) grants_.pop_front();
      if (grants_.size() < max_per_window_) {
        grants_.push_back(now);
        break;
      }
      // Grants are only pushed below the limit, so the oldest one is the blocker; it
      // stops counting one tick after it leaves the closed window.
      cv_.wait_until(lock, grants_.front() + window_ + std::chrono::nanoseconds(1));
    }
    ++in_flight_;
  }

  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --in_flight_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Clock::time_point> grants_;
  uint32_t in_flight_ = 0;
  const uint32_t max_concurrent_;
  const uint64_t max_per_window_;
  const std::chrono::nanoseconds window_;
};

}  // namespace ptl::bench
