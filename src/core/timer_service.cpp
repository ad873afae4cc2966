#include "core/timer_service.hpp"

#include <utility>

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
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = due_.emplace(at, std::move(fn));
    earliest = it == due_.begin();
  }
  if (earliest) wake_.notify_one();
}

void TimerService::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (due_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const Nanos next = due_.begin()->first;
    if (monotonic_now() < next) {
      wake_.wait_until(lock, to_time_point(next));
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

}  // namespace ptl::core
