// SPDX-License-Identifier: MIT
// GrantBook: what each grant of a local limiter charged, so that a release gives back
// held units and a settle can correct the right window entries.
//
// Outstanding grants are found by their permit's slot index (unique while the permit is
// held, so a plain vector indexed by it needs no hashing). A released grant that still
// has units to settle moves to a short line of at most kMaxReleased records; it leaves
// once its windows no longer count it, or when the line is full (ADR 15). Not
// synchronized: the owning limiter's mutex guards it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/clock.hpp"
#include "core/policy.hpp"

namespace ptl::core {

struct GrantRecord {
  uint64_t permit = 0;  // 0: no grant
  Nanos granted_at = 0;
  uint32_t settled = 0;  // a bit per limit index
  Charges charges;
  std::array<uint64_t, kMaxLimits> entry{};  // window entry ids; 0 = none

  // Copies what `from` holds: its header and its first charges.n amounts and entries (the
  // rest is unused, and a whole record is ~300 bytes, copied on every kept release).
  void assign_used(const GrantRecord& from) {
    permit = from.permit;
    granted_at = from.granted_at;
    settled = from.settled;
    charges.n = from.charges.n;
    std::copy_n(from.charges.amount.begin(), from.charges.n, charges.amount.begin());
    std::copy_n(from.entry.begin(), from.charges.n, entry.begin());
  }

  // Whether `unit` was settled already (under `policy`, which the indexes follow).
  bool settled_unit(const PolicySpec& policy, std::string_view unit) const {
    for (size_t i = 0; i < policy.limits.size(); ++i) {
      if (policy.limits[i].unit == unit && (settled >> i & 1u)) return true;
    }
    return false;
  }
};

class GrantBook {
 public:
  static constexpr size_t kMaxReleased = 256;

  // A fresh record for `permit` (slot index `slot`) that charged `charges` at `granted_at`,
  // with no window entry yet.
  GrantRecord& open(uint64_t permit, uint32_t slot, const Charges& charges, Nanos granted_at);
  // The record of a held permit, nullptr if it has none (a grant of the lock-free path).
  GrantRecord* held(uint64_t permit, uint32_t slot);
  // Ends a held permit's record; keeps it among the released ones if `keep`.
  void close(uint64_t permit, uint32_t slot, bool keep);
  // The record of a released permit still kept, or nullptr.
  GrantRecord* released(uint64_t permit);
  // Drops released records granted before `t`.
  void forget_granted_before(Nanos t);

  // Calls fn(GrantRecord&, bool held) for every record, held and released.
  template <typename Fn>
  void for_each(Fn&& fn) {
    for (GrantRecord& r : held_) {
      if (r.permit != 0) fn(r, true);
    }
    for (size_t i = 0; i < released_count_; ++i) fn(released_at(i), false);
  }

 private:
  // The i-th oldest released record.
  GrantRecord& released_at(size_t i) { return released_[(released_first_ + i) % released_.size()]; }

  std::vector<GrantRecord> held_;  // by slot index
  // The released line as a ring over a vector that grows to kMaxReleased and stays:
  // a record is large, and a deque of them allocated and freed a node per release.
  std::vector<GrantRecord> released_;
  size_t released_first_ = 0;
  size_t released_count_ = 0;
};

}  // namespace ptl::core
