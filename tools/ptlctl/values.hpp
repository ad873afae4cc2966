// SPDX-License-Identifier: MIT
// The values of ptlctl's options, parsed strictly: no sign, no blanks, no trailing text, no
// overflow. Each returns "" when the text is good, else what was expected (for the message).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ptlctl {

// One --limit UNIT:MAX[/WINDOW] of register (window 0: a held limit).
struct LimitArg {
  std::string unit;
  uint64_t max = 0;
  int64_t window_ns = 0;
};

// A whole number in [min, max].
std::string parse_count(std::string_view text, uint64_t min, uint64_t max, uint64_t* out);

// A finite number of seconds > 0.
std::string parse_seconds(std::string_view text, double* out);

// UNIT:MAX[/WINDOW]; WINDOW is a number > 0 and a unit: 500ms, 60s, 1m, 24h.
std::string parse_limit(std::string_view text, LimitArg* out);

}  // namespace ptlctl
