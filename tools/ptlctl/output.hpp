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

// One limiter's limits and state as a JSON object (no trailing newline).
std::string stats_json(std::string_view name, const ptl_limiter_stats& s);

// Rows of cells printed with every column padded to its widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::FILE* out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace ptlctl
