// SPDX-License-Identifier: MIT
// ptl-demo's command line (CLI11): the scenario and its parameters, checked strictly, with
// one-line messages naming the option and what was expected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "adaptive.hpp"
#include "scenario.hpp"
#include "tokens.hpp"

namespace demo {

inline constexpr uint32_t kMaxProcesses = 64;

struct Options {
  Params params;
  AdaptiveParams adaptive;
  TokensParams tokens;
  bool is_adaptive = false;
  bool is_tokens = false;
  bool json = false;
  std::string svg;     // empty: no picture
  int64_t child = -1;  // >= 0: this process is that child of a --processes run
};

// The options of a run, or else `text` for main to print and `exit_status` to return
// (--help and --version: stdout, 0; bad usage: stderr, 2).
struct ParsedArgs {
  std::optional<Options> options;
  std::string text;
  int exit_status = 0;
};

ParsedArgs parse_args(int argc, char** argv);

}  // namespace demo
