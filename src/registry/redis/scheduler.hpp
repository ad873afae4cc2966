// SPDX-License-Identifier: MIT
// Scheduler: one thread per redis:// registry that runs tasks at monotonic times: the
// session heartbeats, the timers that cover a window's next free moment, and the deadlines
// of asynchronous waiters. Tasks may make one round trip to Redis, which is why this
// is not the core's TimerService: a slow server must not delay local limiters' timers.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "core/clock.hpp"

namespace ptl::core::redis {

class Scheduler {
 public:
  Scheduler();
  // Stops the thread. Tasks not run yet are dropped (with what they captured). Safe to
  // call from a task: the thread then finishes on its own.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs fn on the scheduler's thread at or after `at`.
  void at(Nanos at, std::function<void()> fn);

 private:
  struct State;
  static void run(const std::shared_ptr<State>& state);

  // Shared with the thread, so that a scheduler destroyed by one of its own tasks leaves
  // the thread something valid to finish with.
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace ptl::core::redis
