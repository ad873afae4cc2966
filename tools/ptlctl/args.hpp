// SPDX-License-Identifier: MIT
// Command-line parsing for ptlctl: strict, with messages that name the bad argument.
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ptlctl {

enum class Command {
  kList,
  kStats,
  kWatch,
  kRegister,
  kRemove,
  kDestroy,
  kPresets,
  kHelp,
  kVersion
};

// Which limits the command line gave (register --replace changes only those).
struct LimitsGiven {
  bool max_concurrent = false;
  bool max_per_window = false;
  bool window = false;
  bool max_cost_per_window = false;
  bool any() const { return max_concurrent || max_per_window || window || max_cost_per_window; }
};

// One --limit UNIT:MAX[/WINDOW] of register (window 0: a held limit).
struct LimitArg {
  std::string unit;
  uint64_t max = 0;
  int64_t window_ns = 0;
};

struct Options {
  Command command = Command::kHelp;
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

// Why parsing failed; main prints it with the usage hint and exits 2.
struct UsageError {
  std::string message;
};

// Parses argv. Returns the options, or a UsageError naming the offending argument.
// Global options (--uri, --json) may stand before or after the command.
std::optional<Options> parse(int argc, char** argv, UsageError* error);

// The text of `ptlctl --help`.
const char* usage();

}  // namespace ptlctl
