// SPDX-License-Identifier: MIT
// Lower bounds on the makespan of a throttled batch: n items of known durations d[i]
// under at most C running at once and at most W grants in any closed interval of
// length T (the strict sliding window of the core: grant k+W comes strictly after
// grant k + T). The makespan runs from the batch's start t0 to the last item's end.
//
// any_order_bound: true for EVERY schedule, in any order. Let g_0 <= g_1 <= ... be the
//   grant times sorted. The window gives g_r >= g_{r-jW} + jT >= t0 + jT for r >= jW.
//   So, for each j with jW < n, the k = n - jW items granted last all start at or after
//   t0 + jT, and then
//     - they share C slots: the last of them ends at >= jT + sum(their d) / C, and any
//       k items sum to at least the k smallest durations;
//     - the longest of them ends at >= jT + max(their d), and the largest of any k
//       items is at least the k-th smallest duration.
//   The bound is the maximum over j. j = 0 is the plain concurrency bound
//   max(sum d / C, max d); the last j, floor((n-1)/W), gives floor((n-1)/W) * T + (at
//   least min d), the window bound; the j in between combine the two.
//
// in_order_bound: the exact optimum among schedules that grant in index order, which
//   ptl.h promises for the batch executors ("Items are granted in index order"). It
//   simulates an executor with no overhead and exact durations that grants item i at
//   the earliest time allowed by: g_i >= g_{i-1} (order), fewer than C of items < i
//   still running (the C-th largest end so far, a heap of C slots), and
//   g_i >= g_{i-W} + T (the window; the true rule is strictly later, so this is a
//   bound, by 1 ns per window crossed). Every constraint on g_i is non-decreasing in
//   the earlier grants, so by induction any in-order schedule has each g'_i >= g_i:
//   the simulated makespan is a true lower bound for any executor keeping that order,
//   and >= any_order_bound (which this file checks). The gap between the two is the
//   price of the order itself, not of the executor: with random durations the items of
//   the last window are not the shortest ones, and list scheduling leaves a tail.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <vector>

namespace ptl::bench {

struct ThrottleLimits {
  uint32_t max_concurrent = 1;  // C >= 1
  uint64_t max_per_window = 0;  // W; 0 = no window
  int64_t window_ns = 0;        // T
};

inline int64_t any_order_bound(const std::vector<int64_t>& d, const ThrottleLimits& lim) {
  if (d.empty()) return 0;
  std::vector<int64_t> sorted(d);
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> prefix(sorted.size() + 1, 0);  // prefix[k]: sum of the k smallest
  std::partial_sum(sorted.begin(), sorted.end(), prefix.begin() + 1);
  const size_t n = sorted.size();
  const uint64_t w = lim.max_per_window;
  int64_t best = 0;
  for (size_t j = 0; j == 0 || (w > 0 && j * w < n); ++j) {
    const size_t k = n - j * static_cast<size_t>(w);
    const int64_t slots = (prefix[k] + lim.max_concurrent - 1) / lim.max_concurrent;
    const int64_t longest = sorted[k - 1];
    best = std::max(best, static_cast<int64_t>(j) * lim.window_ns + std::max(slots, longest));
  }
  return best;
}

inline int64_t in_order_bound(const std::vector<int64_t>& d, const ThrottleLimits& lim) {
  // Min-heap of the C latest ends so far (0 = a slot never used): its top is the
  // earliest time a slot is free for the next item.
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> slots;
  for (uint32_t c = 0; c < lim.max_concurrent; ++c) slots.push(0);
  std::vector<int64_t> grants(d.size());
  int64_t makespan = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    int64_t g = slots.top();
    if (i > 0) g = std::max(g, grants[i - 1]);
    if (lim.max_per_window > 0 && i >= lim.max_per_window) {
      g = std::max(g, grants[i - lim.max_per_window] + lim.window_ns);
    }
    grants[i] = g;
    slots.pop();
    slots.push(g + d[i]);
    makespan = std::max(makespan, g + d[i]);
  }
  if (makespan < any_order_bound(d, lim)) {
    throw std::logic_error("makespan bounds: the in-order optimum is below the any-order bound");
  }
  return makespan;
}

}  // namespace ptl::bench
