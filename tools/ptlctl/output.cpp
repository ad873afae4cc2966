#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdint>
#include <cstdlib>

namespace ptlctl {

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", byte);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string number(double value) {
  char buf[32];
  // Shortest text that reads back the same value: "60", "0.5", "0.1".
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

std::string used_of(uint64_t used, uint64_t limit) {
  if (limit == 0) return "-";
  return std::to_string(used) + "/" + std::to_string(limit);
}

std::string stats_json(std::string_view name, const ptl_limiter_stats& s) {
  const ptl_limiter_config& c = s.config;
  std::string out = "{\"name\":" + json_string(name);
  const auto field = [&out](const char* key, const std::string& value) {
    out += ",\"";
    out += key;
    out += "\":";
    out += value;
  };
  field("max_concurrent", std::to_string(c.max_concurrent));
  field("max_per_window", std::to_string(c.max_per_window));
  field("window_seconds", number(c.window_seconds));
  field("max_cost_per_window", std::to_string(c.max_cost_per_window));
  field("in_flight", std::to_string(s.in_flight));
  field("waiting", std::to_string(s.waiting));
  field("window_count", std::to_string(s.current_window_count));
  field("window_cost", std::to_string(s.current_window_cost));
  field("total_acquired", std::to_string(s.total_acquired));
  field("total_timeouts", std::to_string(s.total_timeouts));
  field("total_cancelled", std::to_string(s.total_cancelled));
  field("total_rejected", std::to_string(s.total_rejected));
  field("total_wait_seconds", number(static_cast<double>(s.total_wait_ns) / 1e9));
  return out + "}";
}

void Table::print(std::FILE* out) const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

}  // namespace ptlctl
