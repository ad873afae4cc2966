// SPDX-License-Identifier: MIT
#include "core/config.hpp"

#include <cmath>
#include <cstring>

#include "core/status.hpp"

namespace ptl::core {
namespace {

// Longer windows would overflow int64 nanoseconds arithmetic on deadlines.
constexpr double kMaxWindowSeconds = 1e9;
constexpr size_t kMaxNameBytes = 255;

// Returns the length of the valid UTF-8 sequence at s, or 0 if it is invalid.
size_t utf8_sequence_length(const unsigned char* s, size_t left) {
  const unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (left < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len]) return 0;       // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;  // surrogate
  if (cp > 0x10FFFF) return 0;                 // beyond Unicode
  return len;
}

}  // namespace

Nanos BasicConfig::window_ns() const {
  return static_cast<Nanos>(std::llround(window_seconds * 1e9));
}

void BasicConfig::validate() const {
  if (max_concurrent == 0) fail(Status::kInvalid, "max_concurrent must be at least 1");
  if (!std::isfinite(window_seconds) || window_seconds <= 0) {
    fail(Status::kInvalid, "window_seconds must be finite and > 0");
  }
  if (window_seconds > kMaxWindowSeconds) {
    fail(Status::kInvalid, "window_seconds must be at most 1e9");
  }
  if (window_ns() < 1) fail(Status::kInvalid, "window_seconds must be at least 1 ns");
}

bool operator==(const BasicConfig& a, const BasicConfig& b) {
  return a.max_concurrent == b.max_concurrent && a.max_per_window == b.max_per_window &&
         a.window_seconds == b.window_seconds && a.max_cost_per_window == b.max_cost_per_window;
}

void validate_name(const char* name) {
  if (name == nullptr) fail(Status::kInvalid, "limiter name is NULL");
  const size_t len = strnlen(name, kMaxNameBytes + 1);
  if (len == 0) fail(Status::kInvalid, "limiter name is empty");
  if (len > kMaxNameBytes) fail(Status::kInvalid, "limiter name is longer than 255 bytes");
  const auto* bytes = reinterpret_cast<const unsigned char*>(name);
  for (size_t i = 0; i < len;) {
    const size_t step = utf8_sequence_length(bytes + i, len - i);
    if (step == 0) {
      fail(Status::kInvalid,
           "limiter name is not valid UTF-8 (bad byte at offset " + std::to_string(i) + ")");
    }
    i += step;
  }
}

}  // namespace ptl::core
