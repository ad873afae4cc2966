#include "core/grant_book.hpp"

#include <algorithm>

namespace ptl::core {

GrantRecord& GrantBook::open(uint64_t permit, uint32_t slot) {
  if (slot >= held_.size()) held_.resize(std::max<size_t>(slot + 1, held_.size() * 2));
  GrantRecord& r = held_[slot];
  r = GrantRecord{};
  r.permit = permit;
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
    if (released_.size() == kMaxReleased) released_.pop_front();
    released_.push_back(*r);
  }
  r->permit = 0;
}

GrantRecord* GrantBook::released(uint64_t permit) {
  for (GrantRecord& r : released_) {
    if (r.permit == permit) return &r;
  }
  return nullptr;
}

void GrantBook::forget_granted_before(Nanos t) {
  // Released in about grant order; a record released out of order waits for the ones
  // before it, which bounds its stay by the line's length.
  while (!released_.empty() && released_.front().granted_at < t) released_.pop_front();
}

}  // namespace ptl::core
