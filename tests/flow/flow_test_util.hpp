// SPDX-License-Identifier: MIT
// Helpers shared by the flow suites: an in-flight observer with a peak, grant timestamps,
// and a short random pause that makes items overlap and finish out of order.
#pragma once

#include <pocketflow_throttled/ptl_flow.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace ptl_flow_test {

// Waits until pred holds, polling; false if it never did. The bound only guards against a
// hang; it measures nothing.
template <class Pred>
bool eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

// Holds callers until `n` have arrived. Arrivals only count up, so a caller that polls late
// still sees the meeting (a momentary "n in flight" could be missed by a descheduled poller).
// Returns false if they never all came.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : n_(n) {}
  bool arrive_and_wait() {
    ++arrived_;
    return eventually([&] { return arrived_.load() >= n_; });
  }

 private:
  const int n_;
  std::atomic<int> arrived_{0};
};

// Counts calls in flight and remembers the most ever seen at once.
class InFlight {
 public:
  // Returns the number in flight including this call.
  int enter() {
    const int now = in_.fetch_add(1) + 1;
    int seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    return now;
  }
  void leave() { in_.fetch_sub(1); }
  int peak() const { return peak_.load(); }
  int now() const { return in_.load(); }

 private:
  std::atomic<int> in_{0};
  std::atomic<int> peak_{0};
};

// enter() on construction, leave() on destruction.
class Scope {
 public:
  explicit Scope(InFlight& f) : f_(f), now_(f.enter()) {}
  ~Scope() { f_.leave(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  int now() const { return now_; }

 private:
  InFlight& f_;
  int now_;
};

// Sleeps a pseudo-random 0..max_us microseconds, seeded by `key` (reproducible per item).
inline void jitter(std::uint64_t key, int max_us = 3000) {
  std::mt19937_64 rng(key * 0x9E3779B97F4A7C15ull + 1);
  std::this_thread::sleep_for(
      std::chrono::microseconds(rng() % static_cast<std::uint64_t>(max_us + 1)));
}

// Monotonic timestamps of grants, recorded by the work right after it was granted.
class GrantLog {
 public:
  void record() {
    const auto t = std::chrono::steady_clock::now();
    const std::lock_guard lock(mu_);
    times_.push_back(t);
  }
  std::size_t size() const {
    const std::lock_guard lock(mu_);
    return times_.size();
  }
  // The most grants seen in any span of `span` (a sliding check over every start).
  std::size_t max_in_any(std::chrono::nanoseconds span) const {
    std::vector<std::chrono::steady_clock::time_point> t;
    {
      const std::lock_guard lock(mu_);
      t = times_;
    }
    std::sort(t.begin(), t.end());
    std::size_t best = 0;
    for (std::size_t i = 0, j = 0; i < t.size(); ++i) {
      while (t[i] - t[j] >= span) ++j;
      best = std::max(best, i - j + 1);
    }
    return best;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::chrono::steady_clock::time_point> times_;
};

}  // namespace ptl_flow_test
