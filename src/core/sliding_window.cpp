// SPDX-License-Identifier: MIT
#include "core/sliding_window.hpp"

#include <algorithm>
#include <limits>

#include "core/saturating.hpp"

namespace ptl::core {

void SlidingWindow::evict(Nanos now, Nanos window) {
  const bool saturated = sum_ == kMaxAmount;
  while (!entries_.empty() && entries_.front().time < now - window) {
    if (!saturated) sum_ -= entries_.front().amount;
    entries_.pop_front();
    ++front_id_;
  }
  if (saturated) recompute_sum();
}

void SlidingWindow::recompute_sum() {
  sum_ = 0;
  for (const Entry& e : entries_) sum_ = saturating_add(sum_, e.amount);
}

Nanos SlidingWindow::earliest_fit(Nanos now, Nanos window, uint64_t max, uint64_t amount) const {
  if (amount <= max && sum_ <= max - amount) return now;
  if (amount > max) return kNever;  // only a larger max can hold it
  // Walk from the newest entry back, keeping what fits beside `amount`: the first entry
  // that does not fit must leave (and every older one with it), which decides the time.
  // An entry at t stops counting at t + window + 1 (the interval is closed).
  const uint64_t room = max - amount;
  uint64_t kept = 0;
  for (size_t i = entries_.size(); i-- > 0;) {
    const Entry& e = entries_[i];
    if (e.amount > room - kept) return e.time + window + 1;
    kept += e.amount;
  }
  return now;
}

uint64_t SlidingWindow::record(Nanos now, Nanos window, uint64_t amount) {
  if (!entries_.empty() && now - entries_.back().opened < window / kResolution) {
    entries_.back().time = now;
    entries_.back().amount = saturating_add(entries_.back().amount, amount);
  } else {
    entries_.push_back({now, now, amount});
  }
  sum_ = saturating_add(sum_, amount);
  return front_id_ + entries_.size() - 1;
}

void SlidingWindow::clear() {
  front_id_ += entries_.size();
  entries_.clear();
  sum_ = 0;
}

void SlidingWindow::correct(uint64_t id, uint64_t was, uint64_t now_amount) {
  if (id < front_id_ || id - front_id_ >= entries_.size()) return;
  Entry& e = entries_[id - front_id_];
  // The entry holds this grant's `was` (and maybe merged grants' amounts besides).
  const uint64_t others = e.amount - std::min(e.amount, was);
  e.amount = saturating_add(others, now_amount);
  if (sum_ == kMaxAmount) {
    recompute_sum();  // a saturated sum cannot be corrected by subtraction
    return;
  }
  sum_ = saturating_add(sum_ - std::min(sum_, was), now_amount);
}

}  // namespace ptl::core
