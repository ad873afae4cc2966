// SPDX-License-Identifier: MIT
#include "core/timer_service.hpp"

#include <ctime>
#include <utility>

#include "core/thread_annotations.hpp"

namespace ptl::core {

TimerService& TimerService::instance() {
  static TimerService* service = new TimerService();  // leaked on purpose, see header
  return *service;
}

TimerService::TimerService() {
  std::thread([this] { run(); }).detach();
}

void TimerService::schedule(Nanos at, std::function<void()> fn) {
  bool earliest;
  {
    MutexLock lock(mutex_);
    auto it = due_.emplace(at, std::move(fn));
    earliest = it == due_.begin();
  }
  if (earliest) wake_.notify_one();
}

void TimerService::run() {
  UniqueLock lock(mutex_);
  for (;;) {
    if (due_.empty()) {
      wake_.wait(lock.native());
      continue;
    }
    const Nanos next = due_.begin()->first;
    if (monotonic_now() < next) {
      wake_.wait_until(lock.native(), to_time_point(next));
      continue;
    }
    std::function<void()> fn = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    lock.unlock();
    fn();
    fn = nullptr;  // drops what fn captured (it may own the last reference to a limiter)
    lock.lock();
  }
}

namespace {

class SteadyClock final : public Clock {
 public:
  Nanos now() const override { return monotonic_now(); }
  Nanos now_lower_bound() const override {
    // The coarse clock is CLOCK_MONOTONIC as of the last tick: never ahead of it. The
    // margin covers rounding between the two readings.
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return Nanos{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec - 1'000;
  }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  Nanos deadline) const override {
    if (deadline == kNever) {
      cv.wait(lock);
    } else {
      cv.wait_until(lock, to_time_point(deadline));
    }
  }
  void run_at(Nanos at, std::function<void()> fn) const override {
    TimerService::instance().schedule(at, std::move(fn));
  }
};

}  // namespace

const Clock& steady_clock() {
  static const SteadyClock clock;  // stateless: its destruction at exit harms nobody
  return clock;
}

}  // namespace ptl::core
