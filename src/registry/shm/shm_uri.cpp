// SPDX-License-Identifier: MIT
#include "registry/shm/shm_uri.hpp"

#include <set>

#include "core/status.hpp"

namespace ptl::shm {
namespace {

constexpr std::string_view kScheme = "shm://";

[[noreturn]] void bad(const ShmUri& u, const std::string& why) {
  core::fail(core::Status::kInvalid, "registry URI '" + u.uri + "': " + why);
}

bool name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

mode_t parse_mode(const ShmUri& u, std::string_view v) {
  if (v.empty() || v.size() > 4)
    bad(u, "mode '" + std::string(v) + "' is not an octal mode like 0600");
  mode_t mode = 0;
  for (char c : v) {
    if (c < '0' || c > '7') bad(u, "mode '" + std::string(v) + "' is not an octal mode like 0600");
    mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
  }
  if (mode > 0777) bad(u, "mode '" + std::string(v) + "' has bits beyond 0777");
  // The creator itself must be able to read and write the segment.
  if ((mode & 0600) != 0600)
    bad(u, "mode '" + std::string(v) + "' must include 0600 (owner read and write)");
  return mode;
}

}  // namespace

ShmUri parse_shm_uri(std::string_view uri) {
  ShmUri u;
  u.uri = std::string(uri);
  if (!uri.starts_with(kScheme)) bad(u, "does not start with shm://");
  std::string_view rest = uri.substr(kScheme.size());
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.empty()) bad(u, "the segment name is empty (expected shm://NAME)");
  if (rest.find('/') != std::string_view::npos) {
    bad(u, "the segment name '" + std::string(rest) + "' contains '/'");
  }
  if (rest.size() > kMaxSegmentNameBytes) {
    bad(u, "the segment name is " + std::to_string(rest.size()) + " bytes, longer than " +
               std::to_string(kMaxSegmentNameBytes));
  }
  for (char c : rest) {
    if (!name_char_ok(c)) {
      bad(u, "the segment name '" + std::string(rest) +
                 "' may contain only letters, digits, '.', '_' and '-'");
    }
  }
  u.name = std::string(rest);
  u.shm_path = "/ptl." + u.name;

  std::set<std::string_view> seen;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    // A repeated parameter is refused rather than guessed at (the first? the last?).
    if (!seen.insert(key).second) bad(u, "parameter '" + std::string(key) + "' is given twice");
    if (key == "mode") {
      u.mode = parse_mode(u, value);
    } else if (key == "create") {
      if (value != "0" && value != "1") {
        bad(u, "create must be 0 or 1, not '" + std::string(value) + "'");
      }
      u.create = value == "1";
    } else {
      bad(u, "unknown parameter '" + std::string(key) + "' (expected mode or create)");
    }
  }
  return u;
}

}  // namespace ptl::shm
