// SPDX-License-Identifier: MIT
// Helpers shared by the C++ layer suites: polling for a state, unique names.
#pragma once

#include <unistd.h>
#include <pocketflow_throttled/ptl.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace ptl_cpp_test {

// Polls pred until it holds or `timeout` passes. The timeout only guards against a hang;
// it is generous and never measures speed.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Waits until `n` acquires queue on `lim`.
inline bool wait_waiting(const ptl::Limiter& lim, uint32_t n) {
  return wait_until([&] { return lim.stats().waiting == n; });
}

// A limiter name no other test (or earlier repetition) uses in the default registry.
inline std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// Records the highest number of permits ever seen held at once by the test's threads.
class InFlightObserver {
 public:
  void enter() {
    const int now = in_.fetch_add(1) + 1;
    int seen = max_.load();
    while (now > seen && !max_.compare_exchange_weak(seen, now)) {
    }
  }
  void leave() { in_.fetch_sub(1); }
  int max() const { return max_.load(); }
  int now() const { return in_.load(); }

 private:
  std::atomic<int> in_{0};
  std::atomic<int> max_{0};
};

}  // namespace ptl_cpp_test
