// SPDX-License-Identifier: MIT
// How ptlctl prints: aligned text tables for people, JSON for scripts.
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace ptlctl {

// A JSON string literal for `text` (quotes included). Control characters, quotes and
// backslashes are escaped; names are valid UTF-8 (the library checks), kept as is.
std::string json_string(std::string_view text);

// A number as the shortest text that reads back the same ("60", "0.5").
std::string number(double value);

// "used/limit", or "-" when the limit is 0 (no such limit).
std::string used_of(uint64_t used, uint64_t limit);

// One limit of a limiter's policy and its state (ptl_limiter_get_policy, ptl_limiter_usage).
struct LimitUsage {
  ptl_limit limit{};  // its unit string lives as long as the process
  ptl_usage usage{};
};

// A window for people: "held" for 0, else in the largest unit that divides it exactly
// ("1m", "24h", "500ms", "90s"), as --limit reads it back.
std::string window_text(int64_t window_ns);

// When one more unit fits: "now", "on release" (only a release makes room), or "12.345s".
std::string next_room_text(int64_t next_room_ns);

// A policy as the --limit arguments that make it: "requests:10 requests:500/1m tokens:30000/1m".
std::string policy_text(const std::vector<LimitUsage>& limits);

// One limiter's limits and state as a JSON object (no trailing newline). With `limits`, a
// last field "limits" lists the policy: unit, max, window_seconds (0: held), used,
// observed_cap and next_room_seconds (null: none in force / only a release makes room).
std::string stats_json(std::string_view name, const ptl_limiter_stats& s,
                       const std::vector<LimitUsage>* limits = nullptr);

// Rows of cells printed with every column padded to its widest cell, in terminal columns
// (display_width), so UTF-8 names line up.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::FILE* out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace ptlctl
