// SPDX-License-Identifier: MIT
// SlidingWindow: the amounts granted in the last window of one limit, for a strict
// sliding limit.
//
// Strict means boundaries included: an entry granted at t counts for every grant at a
// time T with T - window <= t, i.e. over the closed interval [T - window, T]. So with
// 60 per 60 s no closed 60 s span ever holds 61 units. Entries are in time order because
// every time recorded is read under the owning limiter's lock.
//
// Bounded whatever the rate (ADR 15): a grant less than window / kResolution after the
// newest entry was opened is added into it, and the entry takes the grant's time. A
// merged entry therefore leaves with its newest grant: never early, and at worst
// window / kResolution late (an entry spans at most that long). So a window's span holds
// at most kResolution + 2 entries (+2: window / kResolution rounds down).
#pragma once

#include <cstdint>
#include <deque>

#include "core/clock.hpp"

namespace ptl::core {

class SlidingWindow {
 public:
  static constexpr Nanos kResolution = 1024;

  // Drops the entries that no longer count at `now`.
  void evict(Nanos now, Nanos window);

  // Units in the window (saturated at UINT64_MAX). Call after evict().
  uint64_t sum() const { return sum_; }
  size_t entries() const { return entries_.size(); }

  // The earliest time >= now at which `amount` more fits under `max`. Call after
  // evict(now, window). A window over its max (a settled excess) waits until enough
  // leaves to make room.
  Nanos earliest_fit(Nanos now, Nanos window, uint64_t max, uint64_t amount) const;

  // Records a grant of `amount` at `now` (not before the newest entry) and returns the
  // id of the entry that holds it (ids start at 1; 0 means none).
  uint64_t record(Nanos now, Nanos window, uint64_t amount);

  // Drops every entry. Ids handed out so far stay unused: correct() ignores them.
  void clear();

  // Calls f(time, amount) for each entry, oldest first.
  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : entries_) f(e.time, e.amount);
  }

  // Changes a grant recorded as `was` in entry `id` to `now_amount`, if the entry still
  // counts; an evicted entry needs no correction since it no longer limits anyone.
  void correct(uint64_t id, uint64_t was, uint64_t now_amount);

 private:
  struct Entry {
    Nanos opened;  // the first grant's time: merging stops window / kResolution after it
    Nanos time;    // the newest grant's time: the entry counts until time + window
    uint64_t amount;
  };
  std::deque<Entry> entries_;
  uint64_t front_id_ = 1;  // id of entries_.front()
  // Invariant: sum of entries_[*].amount, saturated at UINT64_MAX. A saturated sum is
  // only recomputed (exactly) when an entry leaves, so it never wraps to "empty".
  uint64_t sum_ = 0;
  void recompute_sum();
};

}  // namespace ptl::core
