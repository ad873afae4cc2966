// SPDX-License-Identifier: MIT
// acquire_loop_batch: the batch a user writes with the bare limiter and no executor,
// the baseline that shows the batch executor's own cost apart from the limiter's.
//
// `threads` threads take the next index from one counter, acquire a permit of
// `limiter` (blocking, ptl_acquire), run the item, release. With as many threads as
// the limit's max_concurrent, items are granted in (nearly) index order, like the
// executor's: a thread takes its index just before it queues for the permit, and the
// limiter serves its queue first come, first served.
#pragma once

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include <pocketflow_throttled/ptl.h>

namespace ptl::bench {

// Returns PTL_OK, or the first failed acquire's or release's status (the loop stops).
template <class Fn>
int acquire_loop_batch(ptl_limiter* limiter, size_t n, unsigned threads, Fn&& fn) {
  std::atomic<size_t> next{0};
  std::atomic<int> failure{PTL_OK};
  auto worker = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n || failure.load(std::memory_order_relaxed) != PTL_OK) return;
      ptl_permit permit = 0;
      int rc = ptl_acquire(limiter, -1, &permit);
      if (rc == PTL_OK) {
        fn(i);
        rc = ptl_release(limiter, permit);
      }
      if (rc != PTL_OK) {
        int expected = PTL_OK;
        failure.compare_exchange_strong(expected, rc);
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  return failure.load();
}

}  // namespace ptl::bench
