// SPDX-License-Identifier: MIT
// Waiter and WaiterQueue: the first-come-first-served line of a local limiter.
//
// A waiter holds nothing while it waits: it is granted concurrency and window room in
// one step, by whichever thread frees capacity. Synchronous waiters live on their own
// thread's stack and sleep on their own condition variable (so a grant wakes exactly
// the one granted); asynchronous waiters are heap-allocated and complete through a
// callback run after the limiter's lock is dropped.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "core/clock.hpp"
#include "core/limiter_backend.hpp"
#include "core/policy.hpp"

namespace ptl::core {

struct Waiter : boost::intrusive::list_base_hook<> {
  Charges charges;  // under the limiter's current policy
  Nanos deadline = kNever;
  Nanos enqueued_at = 0;
  // Set on the head only: when the window or a penalty will have room for it. A
  // synchronous head sleeps until then itself; an asynchronous one gets a timer.
  Nanos wake_at = kNever;
  std::condition_variable* cv = nullptr;  // synchronous waiters only
  AcquireCallback callback;               // asynchronous waiters only
  uint64_t ticket = 0;                    // asynchronous waiters only

  bool done = false;
  Status status = Status::kOk;
  PermitId permit = 0;

  bool is_async() const { return cv == nullptr; }
};

using WaiterQueue = boost::intrusive::list<Waiter, boost::intrusive::constant_time_size<true>>;

// Asynchronous waiters finished under the lock, to be called back after it is dropped.
// Declare it before the lock guard: destruction runs in reverse, so the lock is released
// first and the callbacks run after.
class Completions {
 public:
  Completions() = default;
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;
  ~Completions() { run(); }

  void add(Waiter* w) { done_.push_back(w); }

  // Runs and frees every completed asynchronous waiter. Call with no lock held.
  void run() {
    for (Waiter* w : done_) {
      w->callback(w->status, w->permit);
      delete w;
    }
    done_.clear();
  }

 private:
  std::vector<Waiter*> done_;
};

}  // namespace ptl::core
