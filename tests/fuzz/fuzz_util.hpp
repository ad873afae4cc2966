// SPDX-License-Identifier: MIT
// Shared by the fuzz targets: a front-to-back reader of the input bytes (so that seeds
// can be written by hand), the status checks that trap on a broken contract, and the
// harness's own model of valid names and configs (written independently of the
// library's, so that the two are checked against each other).
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>

namespace ptl_fuzz {

// Reads the input front to back; past the end every read is 0.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t bytes(size_t n) {  // little-endian, n <= 8
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  uint32_t u32() { return static_cast<uint32_t>(bytes(4)); }
  uint64_t u64() { return bytes(8); }
  std::string str(size_t n) {  // up to n raw bytes (fewer at the end of the input)
    std::string s;
    while (s.size() < n && !empty()) s.push_back(static_cast<char>(u8()));
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// In a list of allowed statuses: none (no call returns it).
constexpr int kNoStatus = std::numeric_limits<int>::min();

// A broken contract: say which, then trap (libFuzzer saves the input).
[[noreturn]] inline void violation(const char* call, int rc, const char* what) {
  std::fprintf(stderr, "\n*** ptl fuzz: %s: %s (status %d %s; ptl_last_error '%s')\n", call, what,
               rc, ptl_status_name(rc), ptl_last_error());
  __builtin_trap();
}

inline void require(bool ok, const char* call, int rc, const char* what) {
  if (!ok) violation(call, rc, what);
}

// PTL_FUZZ_TRACE=1 in the environment prints every checked call (to triage an input).
inline bool g_trace = false;

// rc must be one of `allowed`; a failure must come with a message.
inline int expect(const char* call, int rc, std::initializer_list<int> allowed) {
  if (g_trace) std::fprintf(stderr, "%s -> %s %s\n", call, ptl_status_name(rc), ptl_last_error());
  bool found = false;
  for (int a : allowed) found = found || a == rc;
  if (!found) violation(call, rc, "status not among the documented outcomes of this call");
  if (rc < 0 && ptl_last_error()[0] == '\0') violation(call, rc, "failed with no message");
  const char* name = ptl_status_name(rc);
  if (name == nullptr || name[0] == '\0') violation(call, rc, "ptl_status_name gave nothing");
  return rc;
}

// ---- names: 1..255 bytes of UTF-8 (RFC 3629 table 3-7), up to the first NUL ----------

inline bool in(unsigned char c, unsigned lo, unsigned hi) {
  return c >= lo && c <= hi;
}

inline bool valid_name(const char* name) {
  if (name == nullptr) return false;
  const size_t n = std::strlen(name);
  if (n == 0 || n > 255) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(name);
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    size_t len = 0;
    unsigned lo = 0x80;  // range of the second byte
    unsigned hi = 0xBF;
    if (c <= 0x7F) {
      len = 1;
    } else if (in(c, 0xC2, 0xDF)) {
      len = 2;
    } else if (in(c, 0xE0, 0xEF)) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (in(c, 0xF0, 0xF4)) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (i + len > n) return false;
    if (len > 1 && !in(s[i + 1], lo, hi)) return false;
    for (size_t k = 2; k < len; ++k) {
      if (!in(s[i + k], 0x80, 0xBF)) return false;
    }
    i += len;
  }
  return true;
}

// A name drawn from the input: a few shared ones (so that calls meet), the edges of the
// length limit, invalid UTF-8 of each kind, and raw bytes. `storage` keeps it alive;
// nullptr stands for a NULL argument.
inline const char* draw_name(Input& in, std::string& storage) {
  static const char* const kFixed[] = {"a",
                                       "b",
                                       "limiter-\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
                                       "",
                                       "\xC0\x80",          // overlong NUL
                                       "\xED\xA0\x80",      // surrogate
                                       "\xF4\x90\x80\x80",  // beyond U+10FFFF
                                       "\xE2\x82",          // truncated
                                       "\xFF"};
  const uint8_t k = in.u8();
  switch (k % 8) {
    case 0:
    case 1:
    case 2:
      storage = kFixed[k % 3];
      break;
    case 3:
      storage = kFixed[3 + (k / 8) % 6];
      break;
    case 4:
      storage.assign(254 + (k / 8) % 4, 'x');  // 254..257 bytes
      break;
    case 5:
      storage.clear();  // 84 x U+20AC (252 bytes), then 255 or 256 bytes in all
      for (size_t i = 0; i < 84; ++i) storage += "\xE2\x82\xAC";
      storage += (k / 8) % 2 == 0 ? "zzz" : "\xF0\x9F\x98\x80";
      break;
    case 6:
      storage = in.str(in.u8() % 64);
      break;
    default:
      if ((k / 8) % 4 == 0) return nullptr;
      storage = in.str(in.u8() + 128);
      break;
  }
  return storage.c_str();
}

// ---- configs ---------------------------------------------------------------------------

constexpr uint32_t kConfigV1Size = sizeof(ptl_limiter_config);

// A config whose struct_size is at least sizeof(ptl_limiter_config), with room after it
// for callers that claim a larger (future) struct.
struct ConfigBuffer {
  ptl_limiter_config cfg;
  uint8_t future[16];
};

inline double draw_window(Input& in) {
  static const double kWindows[] = {0.0,
                                    -1.0,
                                    std::numeric_limits<double>::quiet_NaN(),
                                    std::numeric_limits<double>::infinity(),
                                    -std::numeric_limits<double>::infinity(),
                                    std::numeric_limits<double>::denorm_min(),
                                    1e-10,
                                    4e-10,
                                    6e-10,
                                    1e-9,
                                    1e-6,
                                    5e-5,
                                    0.001,
                                    1.0,
                                    60.0,
                                    1e9,
                                    1e9 + 1,
                                    9.3e9,
                                    1e300};
  const uint8_t k = in.u8();
  if (k < 2 * std::size(kWindows)) return kWindows[k % std::size(kWindows)];
  double d = 0;
  const uint64_t bits = in.u64();
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

inline uint64_t draw_count(Input& in) {
  static const uint64_t kCounts[] = {0, 1, 2, 3, 5, 1000, UINT32_MAX, UINT64_MAX / 2, UINT64_MAX};
  const uint8_t k = in.u8();
  return k < 2 * std::size(kCounts) ? kCounts[k % std::size(kCounts)] : in.u64();
}

// What the contract says of a config: accepted, refused (PTL_EINVAL), or either (a
// struct_size beyond the current layout).
enum class Verdict { kValid, kInvalid, kEither };

inline ConfigBuffer draw_config(Input& in, Verdict* verdict) {
  ConfigBuffer b{};
  ptl_limiter_config_init(&b.cfg);
  const uint8_t shape = in.u8();
  if (shape % 16 == 1) b.cfg.struct_size = 0;
  if (shape % 16 == 2) b.cfg.struct_size = kConfigV1Size - 1;
  if (shape % 16 == 3) b.cfg.struct_size = kConfigV1Size + 8;
  const uint8_t which = in.u8();  // one bit per field: drawn or the default
  if ((which & 1) != 0) b.cfg.max_concurrent = static_cast<uint32_t>(draw_count(in));
  if ((which & 2) != 0) b.cfg.max_per_window = draw_count(in);
  if ((which & 4) != 0) b.cfg.window_seconds = draw_window(in);
  if ((which & 8) != 0) b.cfg.max_cost_per_window = draw_count(in);
  const double w = b.cfg.window_seconds;
  // A window must be finite, > 0, at most 1e9 s and at least 1 ns once rounded.
  const bool fields_ok = b.cfg.struct_size >= kConfigV1Size && b.cfg.max_concurrent >= 1 &&
                         std::isfinite(w) && w > 0 && w <= 1e9 && std::llround(w * 1e9) >= 1;
  *verdict = !fields_ok                           ? Verdict::kInvalid
             : b.cfg.struct_size == sizeof(b.cfg) ? Verdict::kValid
                                                  : Verdict::kEither;
  return b;
}

}  // namespace ptl_fuzz
