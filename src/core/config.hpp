// SPDX-License-Identifier: MIT
// The limits of one limiter, validated once at the boundary.
#pragma once

#include <cstdint>
#include <string>

#include "core/clock.hpp"

namespace ptl::core {

struct BasicConfig {
  uint32_t max_concurrent = 5;
  uint64_t max_per_window = 0;  // 0 = no throughput limit
  double window_seconds = 60.0;
  uint64_t max_cost_per_window = 0;  // 0 = no weighted limit

  bool has_window() const { return max_per_window != 0 || max_cost_per_window != 0; }
  Nanos window_ns() const;

  // Throws StatusError(kInvalid) naming the first bad field.
  void validate() const;
};

bool operator==(const BasicConfig& a, const BasicConfig& b);

// Names are 1..255 bytes of valid UTF-8 (no overlong forms, surrogates or code points
// above U+10FFFF). Throws StatusError(kInvalid) saying what is wrong.
void validate_name(const char* name);

}  // namespace ptl::core
