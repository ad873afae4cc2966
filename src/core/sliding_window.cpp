#include "core/sliding_window.hpp"

#include <algorithm>
#include <limits>

namespace ptl::core {
namespace {

constexpr uint64_t kMaxCost = std::numeric_limits<uint64_t>::max();

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > kMaxCost - a ? kMaxCost : a + b;
}

}  // namespace

void SlidingWindow::evict(Nanos now, Nanos window) {
  const bool saturated = cost_sum_ == kMaxCost;
  while (!entries_.empty() && entries_.front().time < now - window) {
    if (!saturated) cost_sum_ -= entries_.front().cost;
    entries_.pop_front();
    ++front_id_;
  }
  if (saturated) recompute_cost();
}

void SlidingWindow::recompute_cost() {
  cost_sum_ = 0;
  for (const Entry& e : entries_) cost_sum_ = saturating_add(cost_sum_, e.cost);
}

Nanos SlidingWindow::earliest_fit(Nanos now, Nanos window, uint64_t max_count, uint64_t max_cost,
                                  uint64_t cost) const {
  Nanos fit = now;
  // An entry at t stops counting at t + window + 1 (the interval is closed).
  if (max_count != 0 && entries_.size() >= max_count) {
    const Entry& blocker = entries_[entries_.size() - max_count];
    fit = std::max(fit, blocker.time + window + 1);
  }
  // cost <= max_cost (checked at acquire), so max_cost - cost cannot wrap.
  if (max_cost != 0 && cost_sum_ > max_cost - cost) {
    // Walk from the newest entry back, keeping what fits beside `cost`: the first entry
    // that does not fit must leave (and every older one with it), which decides the time.
    const uint64_t room = max_cost - cost;
    uint64_t kept = 0;
    for (size_t i = entries_.size(); i-- > 0;) {
      const Entry& e = entries_[i];
      if (e.cost > room - kept) {
        fit = std::max(fit, e.time + window + 1);
        break;
      }
      kept += e.cost;
    }
  }
  return fit;
}

uint64_t SlidingWindow::record(Nanos now, uint64_t cost) {
  entries_.push_back({now, cost});
  cost_sum_ = saturating_add(cost_sum_, cost);
  return front_id_ + entries_.size() - 1;
}

void SlidingWindow::correct(uint64_t id, uint64_t actual_cost) {
  if (id < front_id_ || id - front_id_ >= entries_.size()) return;
  Entry& e = entries_[id - front_id_];
  if (cost_sum_ == kMaxCost) {
    e.cost = actual_cost;
    recompute_cost();  // a saturated sum cannot be corrected by subtraction
    return;
  }
  cost_sum_ = saturating_add(cost_sum_ - e.cost, actual_cost);
  e.cost = actual_cost;
}

}  // namespace ptl::core
