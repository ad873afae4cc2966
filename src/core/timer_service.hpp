// SPDX-License-Identifier: MIT
// TimerService: one library thread that runs callbacks at monotonic deadlines.
//
// Asynchronous waiters have no thread of their own, so their timeouts and the moments
// a sliding window frees room must be noticed by someone: this thread. Synchronous
// waiters time themselves (a condition-variable wait until the deadline), which keeps
// one wake-up, not two, between capacity freeing and the grant.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <thread>

#include "core/clock.hpp"
#include "core/thread_annotations.hpp"

namespace ptl::core {

class TimerService {
 public:
  // The process-wide instance; its thread starts on first use and is never joined, so
  // that a timer pending at exit cannot deadlock static destruction.
  static TimerService& instance();

  // Runs fn on the timer thread at or after `at`. fn must not block for long.
  void schedule(Nanos at, std::function<void()> fn) PTL_EXCLUDES(mutex_);

 private:
  TimerService();
  void run();

  Mutex mutex_;
  std::condition_variable wake_;
  std::multimap<Nanos, std::function<void()>> due_ PTL_GUARDED_BY(mutex_);
};

}  // namespace ptl::core
