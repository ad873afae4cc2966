// SPDX-License-Identifier: MIT
#include "core/grant_book.hpp"

#include <algorithm>

namespace ptl::core {

GrantRecord& GrantBook::open(uint64_t permit, uint32_t slot, const Charges& charges,
                             Nanos granted_at) {
  if (slot >= held_.size()) held_.resize(std::max<size_t>(slot + 1, held_.size() * 2));
  GrantRecord& r = held_[slot];
  r.permit = permit;
  r.granted_at = granted_at;
  r.settled = 0;
  r.charges.n = charges.n;
  std::copy_n(charges.amount.begin(), charges.n, r.charges.amount.begin());
  std::fill_n(r.entry.begin(), charges.n, 0);
  return r;
}

GrantRecord* GrantBook::held(uint64_t permit, uint32_t slot) {
  if (slot >= held_.size() || held_[slot].permit != permit) return nullptr;
  return &held_[slot];
}

void GrantBook::close(uint64_t permit, uint32_t slot, bool keep) {
  GrantRecord* r = held(permit, slot);
  if (r == nullptr) return;
  if (keep) {
    if (released_count_ == released_.size() && released_.size() < kMaxReleased) {
      // Full below the cap: grow, first putting the oldest at index 0 so the ring stays
      // in release order.
      std::rotate(released_.begin(),
                  released_.begin() + static_cast<std::ptrdiff_t>(released_first_),
                  released_.end());
      released_first_ = 0;
      released_.push_back(*r);  // grows at most kMaxReleased times
      ++released_count_;
    } else if (released_count_ == released_.size()) {
      released_at(0).assign_used(*r);  // at the cap: the oldest record leaves
      released_first_ = (released_first_ + 1) % released_.size();
    } else {
      released_at(released_count_++).assign_used(*r);
    }
  }
  r->permit = 0;
}

GrantRecord* GrantBook::released(uint64_t permit) {
  for (size_t i = 0; i < released_count_; ++i) {
    if (released_at(i).permit == permit) return &released_at(i);
  }
  return nullptr;
}

void GrantBook::forget_granted_before(Nanos t) {
  // Released in about grant order; a record released out of order waits for the ones
  // before it, which bounds its stay by the line's length.
  while (released_count_ > 0 && released_at(0).granted_at < t) {
    released_first_ = (released_first_ + 1) % released_.size();
    --released_count_;
  }
}

}  // namespace ptl::core
