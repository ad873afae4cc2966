// SPDX-License-Identifier: MIT
#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "width.hpp"

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

std::string window_text(int64_t window_ns) {
  if (window_ns == 0) return "held";
  static constexpr std::pair<const char*, int64_t> kUnits[] = {
      {"h", INT64_C(3600000000000)}, {"m", INT64_C(60000000000)}, {"s", INT64_C(1000000000)},
      {"ms", INT64_C(1000000)},      {"us", INT64_C(1000)},       {"ns", 1}};
  for (const auto& [unit, scale] : kUnits) {
    if (window_ns % scale == 0) return std::to_string(window_ns / scale) + unit;
  }
  return std::to_string(window_ns) + "ns";
}

std::string next_room_text(int64_t next_room_ns) {
  if (next_room_ns == 0) return "now";
  if (next_room_ns < 0) return "on release";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(next_room_ns) / 1e9);
  return buf;
}

std::string policy_text(const std::vector<LimitUsage>& limits) {
  std::string out;
  for (const LimitUsage& l : limits) {
    if (!out.empty()) out += ' ';
    out += l.limit.unit;
    out += ':' + std::to_string(l.limit.max);
    if (l.limit.window_ns != 0) out += '/' + window_text(l.limit.window_ns);
  }
  return out;
}

namespace {

std::string limits_json(const std::vector<LimitUsage>& limits) {
  std::string out = "[";
  for (const LimitUsage& l : limits) {
    const ptl_usage& u = l.usage;
    if (out.size() > 1) out += ',';
    out += "{\"unit\":" + json_string(l.limit.unit) + ",\"max\":" + std::to_string(l.limit.max) +
           ",\"window_seconds\":" + number(static_cast<double>(l.limit.window_ns) / 1e9) +
           ",\"used\":" + std::to_string(u.used) + ",\"observed_cap\":" +
           (u.observed_cap == UINT64_MAX ? "null" : std::to_string(u.observed_cap)) +
           ",\"next_room_seconds\":" +
           (u.next_room_ns < 0 ? "null" : number(static_cast<double>(u.next_room_ns) / 1e9)) + "}";
  }
  return out + "]";
}

}  // namespace

std::string stats_json(std::string_view name, const ptl_limiter_stats& s,
                       const std::vector<LimitUsage>* limits) {
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
  if (limits != nullptr) field("limits", limits_json(*limits));
  return out + "}";
}

void Table::print(std::FILE* out) const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - display_width(row[i]) + 2, ' ');
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

}  // namespace ptlctl
