// SPDX-License-Identifier: MIT
#include "core/observed_caps.hpp"

#include <algorithm>
#include <limits>

namespace ptl::core {

void ObservedCaps::erase(int i) {
  caps_[static_cast<size_t>(i)] = caps_[static_cast<size_t>(n_ - 1)];
  --n_;
}

void ObservedCaps::evict(Nanos now) {
  for (int i = 0; i < n_;) {
    if (caps_[static_cast<size_t>(i)].until <= now) {
      erase(i);
    } else {
      ++i;
    }
  }
}

void ObservedCaps::observe(Nanos now, uint64_t remaining, Nanos until) {
  evict(now);
  if (until <= now) return;
  for (int i = 0; i < n_; ++i) {
    const Cap& c = caps_[static_cast<size_t>(i)];
    if (c.left <= remaining && c.until >= until) return;  // already as tight, as long
  }
  for (int i = 0; i < n_;) {
    const Cap& c = caps_[static_cast<size_t>(i)];
    if (remaining <= c.left && until >= c.until) {
      erase(i);  // the new cap covers it
    } else {
      ++i;
    }
  }
  if (n_ == kMaxCaps) {
    // Merge the two caps whose resets are nearest: the tighter left, the later reset.
    std::sort(caps_.begin(), caps_.begin() + n_,
              [](const Cap& a, const Cap& b) { return a.until < b.until; });
    int best = 0;
    for (int i = 1; i + 1 < n_; ++i) {
      const size_t u = static_cast<size_t>(i);
      if (caps_[u + 1].until - caps_[u].until <
          caps_[static_cast<size_t>(best) + 1].until - caps_[static_cast<size_t>(best)].until) {
        best = i;
      }
    }
    const size_t b = static_cast<size_t>(best);
    // The later observation: only grants after both were charged to both.
    caps_[b] = {std::min(caps_[b].left, caps_[b + 1].left), caps_[b + 1].until,
                std::max(caps_[b].observed_at, caps_[b + 1].observed_at)};
    erase(best + 1);
  }
  caps_[static_cast<size_t>(n_++)] = {remaining, until, now};
}

uint64_t ObservedCaps::cap() const {
  uint64_t least = std::numeric_limits<uint64_t>::max();
  for (int i = 0; i < n_; ++i) least = std::min(least, caps_[static_cast<size_t>(i)].left);
  return least;
}

Nanos ObservedCaps::earliest_fit(Nanos now, uint64_t amount) const {
  Nanos fit = now;
  for (int i = 0; i < n_; ++i) {
    const Cap& c = caps_[static_cast<size_t>(i)];
    if (c.left < amount) fit = std::max(fit, c.until);
  }
  return fit;
}

void ObservedCaps::charge(uint64_t amount) {
  for (int i = 0; i < n_; ++i) {
    Cap& c = caps_[static_cast<size_t>(i)];
    c.left -= std::min(c.left, amount);
  }
}

void ObservedCaps::refund(uint64_t amount, Nanos granted_at) {
  for (int i = 0; i < n_; ++i) {
    Cap& c = caps_[static_cast<size_t>(i)];
    if (c.observed_at < granted_at) {
      c.left = amount > std::numeric_limits<uint64_t>::max() - c.left
                   ? std::numeric_limits<uint64_t>::max()
                   : c.left + amount;
    }
  }
}

}  // namespace ptl::core
