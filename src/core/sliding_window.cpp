#include "core/sliding_window.hpp"

#include <algorithm>

namespace ptl::core {

void SlidingWindow::evict(Nanos now, Nanos window) {
  while (!entries_.empty() && entries_.front().time < now - window) {
    cost_sum_ -= entries_.front().cost;
    entries_.pop_front();
    ++front_id_;
  }
}

Nanos SlidingWindow::earliest_fit(Nanos now, Nanos window, uint64_t max_count, uint64_t max_cost,
                                  uint64_t cost) const {
  Nanos fit = now;
  // An entry at t stops counting at t + window + 1 (the interval is closed).
  if (max_count != 0 && entries_.size() >= max_count) {
    const Entry& blocker = entries_[entries_.size() - max_count];
    fit = std::max(fit, blocker.time + window + 1);
  }
  if (max_cost != 0 && cost_sum_ + cost > max_cost) {
    uint64_t remaining = cost_sum_;
    for (const Entry& e : entries_) {
      remaining -= e.cost;
      if (remaining + cost <= max_cost) {
        fit = std::max(fit, e.time + window + 1);
        break;
      }
    }
  }
  return fit;
}

uint64_t SlidingWindow::record(Nanos now, uint64_t cost) {
  entries_.push_back({now, cost});
  cost_sum_ += cost;
  return front_id_ + entries_.size() - 1;
}

void SlidingWindow::correct(uint64_t id, uint64_t actual_cost) {
  if (id < front_id_ || id - front_id_ >= entries_.size()) return;
  Entry& e = entries_[id - front_id_];
  cost_sum_ = cost_sum_ - e.cost + actual_cost;
  e.cost = actual_cost;
}

}  // namespace ptl::core
