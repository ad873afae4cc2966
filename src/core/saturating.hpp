// SPDX-License-Identifier: MIT
// Amounts (requests, tokens) are uint64 and add up saturating: a sum that would pass the
// largest value stays there, so a huge amount can make a limit full but never wrap it
// around to look empty.
#pragma once

#include <cstdint>
#include <limits>

namespace ptl::core {

inline constexpr uint64_t kMaxAmount = std::numeric_limits<uint64_t>::max();

constexpr uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > kMaxAmount - a ? kMaxAmount : a + b;
}

}  // namespace ptl::core
