// SPDX-License-Identifier: MIT
#include "values.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

namespace ptlctl {
namespace {

// Whole-string unsigned parse; rejects signs, blanks, trailing text and overflow.
bool parse_u64(std::string_view text, uint64_t* out) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  const std::string s(text);
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

// A window: a number > 0 and a unit (ns, us, ms, s, m, h, d): "500ms", "60s", "1.5h".
bool parse_window(std::string_view text, int64_t* out) {
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
  const size_t digits = text.find_first_not_of("0123456789.");
  if (digits == 0 || digits == std::string_view::npos) return false;
  for (const auto& [unit, scale] : kUnits) {
    if (text.substr(digits) != unit) continue;
    const std::string number(text.substr(0, digits));
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !std::isfinite(v) || v <= 0) return false;
    const double ns = std::round(v * scale);
    if (ns < 1 || ns > 9.2e18) return false;
    *out = static_cast<int64_t>(ns);
    return true;
  }
  return false;
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

}  // namespace

std::string parse_count(std::string_view text, uint64_t min, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  if (!parse_u64(text, &v)) return "expected a non-negative integer, got " + quoted(text);
  if (v < min || v > max) {
    return "expected an integer " + std::to_string(min) + ".." + std::to_string(max) + ", got " +
           quoted(text);
  }
  *out = v;
  return "";
}

std::string parse_seconds(std::string_view text, double* out) {
  const std::string s(text);
  char* end = nullptr;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v <= 0) {
    return "expected a number of seconds > 0, got " + quoted(text);
  }
  *out = v;
  return "";
}

std::string parse_limit(std::string_view text, LimitArg* out) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return "expected UNIT:MAX[/WINDOW] (e.g. tokens:30000/1m), got " + quoted(text);
  }
  const std::string_view unit = text.substr(0, colon);
  if (unit.empty() || unit.size() > 32 ||
      unit.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string_view::npos) {
    return "unit " + quoted(unit) + " is not 1 to 32 of [a-z0-9_]";
  }
  const std::string_view rest = text.substr(colon + 1);
  const size_t slash = rest.find('/');
  const std::string_view max = rest.substr(0, slash);
  if (!parse_u64(max, &out->max) || out->max == 0) {
    return "max " + quoted(max) + " of " + std::string(unit) + " is not a whole number >= 1";
  }
  out->window_ns = 0;
  if (slash != std::string_view::npos) {
    const std::string_view window = rest.substr(slash + 1);
    if (!parse_window(window, &out->window_ns)) {
      return "window " + quoted(window) + " is not a duration > 0 with a unit: 500ms, 60s, 1m, 24h";
    }
  }
  out->unit = std::string(unit);
  return "";
}

}  // namespace ptlctl
