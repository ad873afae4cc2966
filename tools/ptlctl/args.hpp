// SPDX-License-Identifier: MIT
// ptlctl's command line (CLI11): subcommands with their own options and --help, strict
// values, and messages that name the command, the option and what was expected.
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "values.hpp"

namespace ptlctl {

enum class Command { kList, kStats, kWatch, kRegister, kRemove, kDestroy, kPresets };

// Which limits the command line gave (register --replace changes only those).
struct LimitsGiven {
  bool max_concurrent = false;
  bool max_per_window = false;
  bool window = false;
  bool max_cost_per_window = false;
  bool any() const { return max_concurrent || max_per_window || window || max_cost_per_window; }
};

struct Options {
  Command command = Command::kList;
  std::string uri;  // empty: $PTL_REGISTRY_URI
  std::string name;
  bool json = false;
  // register: the given limits over the defaults
  ptl_limiter_config config{};
  LimitsGiven given;
  // register: a policy instead (ADR 15): --limit repeated, or a provider policy by name
  std::vector<LimitArg> limits;
  std::string preset_policy;
  bool replace = false;
  // destroy
  bool force = false;
  // watch
  double interval_seconds = 1.0;
  std::optional<uint64_t> count;  // lines to print, then exit; unset = until interrupted
};

// A parsed command line: the options of a command to run, or else `text` for main to print
// and `exit_status` to return (--help and --version: stdout, 0; bad usage: stderr, 2).
struct Parsed {
  std::optional<Options> options;
  std::string text;
  int exit_status = 0;
};

// Global options (--uri, --json) may stand before or after the command.
Parsed parse(int argc, char** argv);

}  // namespace ptlctl
