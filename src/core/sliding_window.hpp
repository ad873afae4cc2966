// SlidingWindow: the grants of the last window, for strict sliding limits.
//
// Strict means boundaries included: an entry granted at t counts for every grant at a
// time T with T - window <= t, i.e. over the closed interval [T - window, T]. So with
// 60 per 60 s no closed 60 s span ever holds 61 grants. One log serves both the count
// and the weighted limit; entries are in time order because every time recorded is
// read under the owning limiter's lock.
#pragma once

#include <cstdint>
#include <deque>

#include "core/clock.hpp"

namespace ptl::core {

class SlidingWindow {
 public:
  // Drops the entries that no longer count at `now`.
  void evict(Nanos now, Nanos window);

  uint64_t count() const { return entries_.size(); }
  uint64_t cost() const { return cost_sum_; }

  // The earliest time >= now at which a grant of `cost` fits under max_count grants and
  // max_cost units (0 = no such limit). Call after evict(now, window).
  Nanos earliest_fit(Nanos now, Nanos window, uint64_t max_count, uint64_t max_cost,
                     uint64_t cost) const;

  // Records a grant at `now` (not before the last one) and returns its id.
  uint64_t record(Nanos now, uint64_t cost);

  // Sets the cost of entry `id` to actual_cost if it still counts; an evicted entry
  // needs no correction since it no longer limits anyone.
  void correct(uint64_t id, uint64_t actual_cost);

 private:
  struct Entry {
    Nanos time;
    uint64_t cost;
  };
  std::deque<Entry> entries_;
  uint64_t front_id_ = 1;  // id of entries_.front(); ids start at 1 so 0 means "none"
  // Invariant: sum of entries_[*].cost, saturated at UINT64_MAX. A saturated sum is only
  // recomputed (exactly) when an entry leaves, so it never wraps to "empty".
  uint64_t cost_sum_ = 0;
  void recompute_cost();
};

}  // namespace ptl::core
