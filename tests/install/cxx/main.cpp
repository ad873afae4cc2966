// SPDX-License-Identifier: MIT
// Built against the *installed* package with find_package(pocketflow_throttled): the
// shared-limiter pattern in C++, checked. Exits non-zero if the quota was exceeded or a call
// failed.
#include <pocketflow_throttled/ptl.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

int main() {
  constexpr int kLimit = 4, kThreads = 8, kCalls = 100;
  ptl::registry().register_limiter("openai", {.max_concurrent = kLimit, .max_per_window = 0});

  std::atomic<int> in_flight{0}, peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        auto permit = ptl::registry().get("openai").acquire();  // released at scope exit
        const int now = ++in_flight;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        --in_flight;
      }
    });
  }
  for (auto& th : threads) th.join();

  const ptl::LimiterStats stats = ptl::registry().stats("openai");
  const bool ok = peak.load() >= 1 && peak.load() <= kLimit && stats.in_flight == 0 &&
                  stats.total_acquired == uint64_t{kThreads} * kCalls;
  std::printf("C++ consumer: peak %d of %d, %llu grants: %s\n", peak.load(), kLimit,
              static_cast<unsigned long long>(stats.total_acquired), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
