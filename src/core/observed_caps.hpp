// SPDX-License-Identifier: MIT
// ObservedCaps: what a provider said is left of one unit (ptl_observe), as caps in force.
//
// Each observation says "at most `left` more units until `until`". Responses arrive out
// of order, so a newer one may be staler than an older one: every cap stays in force
// until its own reset, and a grant must fit under all of them (only ever tightens). A cap
// made redundant by another (no looser and no shorter) is dropped; past kMaxCaps the two
// nearest resets merge into one that is tighter than both, so the set stays bounded.
// A cap counts what the grants after it were charged: their estimate until they settle,
// then what they used (refund), since that is what the provider counts.
#pragma once

#include <array>
#include <cstdint>

#include "core/clock.hpp"

namespace ptl::core {

class ObservedCaps {
 public:
  static constexpr int kMaxCaps = 4;

  void observe(Nanos now, uint64_t remaining, Nanos until);
  // Drops the caps whose reset has passed.
  void evict(Nanos now);
  // The least `left` in force, UINT64_MAX if none. Call after evict(now).
  uint64_t cap() const;
  // The earliest time >= now at which `amount` fits under every cap; kNever is never
  // returned since every cap ends. Call after evict(now).
  Nanos earliest_fit(Nanos now, uint64_t amount) const;
  // Counts a grant (or a settled excess) against every cap in force.
  void charge(uint64_t amount);
  // A grant made at `granted_at` used `amount` less than it was charged: gives it back to
  // the caps observed before that grant (they charged its estimate; the provider counts
  // only what was used). Caps observed later never charged it and keep their count.
  void refund(uint64_t amount, Nanos granted_at);
  bool empty() const { return n_ == 0; }

 private:
  struct Cap {
    uint64_t left;
    Nanos until;
    Nanos observed_at;  // grants after it are charged to it
  };
  std::array<Cap, kMaxCaps> caps_{};
  int n_ = 0;
  void erase(int i);
};

}  // namespace ptl::core
