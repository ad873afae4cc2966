// SPDX-License-Identifier: MIT
#include "registry/redis/scheduler.hpp"

#include <condition_variable>
#include <map>
#include <utility>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"

namespace ptl::core::redis {

struct Scheduler::State {
  Mutex mutex;
  std::condition_variable wake;
  std::multimap<Nanos, std::function<void()>> due PTL_GUARDED_BY(mutex);
  bool stop PTL_GUARDED_BY(mutex) = false;
};

Scheduler::Scheduler() : state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_] { run(state); });
}

Scheduler::~Scheduler() {
  std::multimap<Nanos, std::function<void()>> dropped;
  {
    MutexLock lock(state_->mutex);
    state_->stop = true;
    dropped.swap(state_->due);  // destroyed outside the lock: they may hold limiters
  }
  state_->wake.notify_one();
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // a task destroyed us; the thread ends when that task returns
  } else {
    thread_.join();
  }
}

void Scheduler::at(Nanos at, std::function<void()> fn) {
  bool earliest;
  {
    MutexLock lock(state_->mutex);
    if (state_->stop) return;
    auto it = state_->due.emplace(at, std::move(fn));
    earliest = it == state_->due.begin();
  }
  if (earliest) state_->wake.notify_one();
}

void Scheduler::run(const std::shared_ptr<State>& state) {
  UniqueLock lock(state->mutex);
  while (!state->stop) {
    if (state->due.empty()) {
      state->wake.wait(lock.native());
      continue;
    }
    const Nanos next = state->due.begin()->first;
    if (monotonic_now() < next) {
      state->wake.wait_until(lock.native(), to_time_point(next));
      continue;
    }
    std::function<void()> fn = std::move(state->due.begin()->second);
    state->due.erase(state->due.begin());
    lock.unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      // A task's failure must not end the thread every later task depends on.
      log::logger().error("redis scheduler: task failed: {}", e.what());
    }
    fn = nullptr;  // drops what fn captured before the lock is taken again
    lock.lock();
  }
}

}  // namespace ptl::core::redis
