// SPDX-License-Identifier: MIT
#include "core/rate_headers.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <limits>

namespace ptl::core {
namespace {

using std::string_view;

constexpr int64_t kNsPerSec = 1'000'000'000;

enum class Kind { kRemaining, kGoDuration, kRfc3339, kLimit, kRetryAfter };
enum Unit : uint8_t { kReq, kTok, kInTok, kOutTok, kUnitCount };
constexpr std::array<string_view, kUnitCount> kUnitNames = {"requests", "tokens", "input_tokens",
                                                            "output_tokens"};

struct KnownHeader {
  string_view name;  // lower case
  Kind kind;
  Unit unit;
};

// A table, not a grammar over name parts: 19 names, and a typo in one stays local to it.
constexpr KnownHeader kKnown[] = {
    {"x-ratelimit-remaining-requests", Kind::kRemaining, kReq},
    {"x-ratelimit-remaining-tokens", Kind::kRemaining, kTok},
    {"x-ratelimit-reset-requests", Kind::kGoDuration, kReq},
    {"x-ratelimit-reset-tokens", Kind::kGoDuration, kTok},
    {"x-ratelimit-limit-requests", Kind::kLimit, kReq},
    {"x-ratelimit-limit-tokens", Kind::kLimit, kTok},
    {"anthropic-ratelimit-requests-remaining", Kind::kRemaining, kReq},
    {"anthropic-ratelimit-requests-reset", Kind::kRfc3339, kReq},
    {"anthropic-ratelimit-requests-limit", Kind::kLimit, kReq},
    {"anthropic-ratelimit-tokens-remaining", Kind::kRemaining, kTok},
    {"anthropic-ratelimit-tokens-reset", Kind::kRfc3339, kTok},
    {"anthropic-ratelimit-tokens-limit", Kind::kLimit, kTok},
    {"anthropic-ratelimit-input-tokens-remaining", Kind::kRemaining, kInTok},
    {"anthropic-ratelimit-input-tokens-reset", Kind::kRfc3339, kInTok},
    {"anthropic-ratelimit-input-tokens-limit", Kind::kLimit, kInTok},
    {"anthropic-ratelimit-output-tokens-remaining", Kind::kRemaining, kOutTok},
    {"anthropic-ratelimit-output-tokens-reset", Kind::kRfc3339, kOutTok},
    {"anthropic-ratelimit-output-tokens-limit", Kind::kLimit, kOutTok},
    {"retry-after", Kind::kRetryAfter, kReq},
};

// ASCII only: a locale's tolower could fold other bytes into a match.
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

const KnownHeader* find_known(string_view name) {
  const auto same = [](char a, char b) { return lower(a) == b; };
  for (const KnownHeader& k : kKnown) {
    if (std::equal(name.begin(), name.end(), k.name.begin(), k.name.end(), same)) return &k;
  }
  return nullptr;
}

// RFC 9110 OWS: spaces and horizontal tabs only.
string_view trim_ows(string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1*DIGIT, no sign, at most `max`.
std::optional<uint64_t> parse_uint(string_view s, uint64_t max) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// A Go duration (time.Duration.String, accepted as time.ParseDuration does, without a sign):
// "0", or one or more <decimal>[.<decimal>]<unit>. A unit is b * 10^a ns; the fraction keeps
// 13 digits (below 1 ns even for hours), so f * b < 10^13 * 3600 fits and the result is the
// exact value truncated to the nanosecond.
std::optional<Nanos> parse_go_duration(string_view s) {
  struct GoUnit {
    string_view suffix;
    uint64_t ns, b;  // ns == b * 10^a
    int a;
  };
  // Longest suffix first: "ms" before "m" and "s". µ is U+00B5 (what Go prints), μ U+03BC.
  static constexpr GoUnit kUnits[] = {{"ns", 1, 1, 0},
                                      {"us", 1'000, 1, 3},
                                      {"\xC2\xB5s", 1'000, 1, 3},
                                      {"\xCE\xBCs", 1'000, 1, 3},
                                      {"ms", 1'000'000, 1, 6},
                                      {"s", kNsPerSec, 1, 9},
                                      {"m", 60 * kNsPerSec, 60, 9},
                                      {"h", 3600 * kNsPerSec, 3600, 9}};
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  constexpr auto kMax = static_cast<uint64_t>(kMaxHeaderDelayNs);
  uint64_t total = 0;
  while (!s.empty()) {
    size_t i = 0;
    uint64_t whole = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (whole > kMax) return std::nullopt;  // far beyond any accepted value; stops overflow
      whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    const bool has_whole = i > 0;
    uint64_t frac = 0;
    size_t frac_digits = 0;  // all of them, the first 13 in frac
    if (i < s.size() && s[i] == '.') {
      for (++i; i < s.size() && is_digit(s[i]); ++i) {
        if (frac_digits++ < 13) frac = frac * 10 + static_cast<uint64_t>(s[i] - '0');
      }
    }
    if (!has_whole && frac_digits == 0) return std::nullopt;
    s.remove_prefix(i);
    const GoUnit* unit = std::find_if(std::begin(kUnits), std::end(kUnits),
                                      [&](const GoUnit& u) { return s.starts_with(u.suffix); });
    if (unit == std::end(kUnits)) return std::nullopt;
    s.remove_prefix(unit->suffix.size());
    if (whole > kMax / unit->ns) return std::nullopt;
    uint64_t part = whole * unit->ns;
    uint64_t frac_ns = frac * unit->b;
    const int kept = static_cast<int>(std::min<size_t>(frac_digits, 13));
    for (int k = kept; k > unit->a; --k) frac_ns /= 10;
    for (int k = kept; k < unit->a; ++k) frac_ns *= 10;
    part += frac_ns;  // whole * ns <= kMax and frac_ns < ns: no overflow
    if (part > kMax - total) return std::nullopt;
    total += part;
  }
  return static_cast<Nanos>(total);
}

// A UTC instant: seconds since the epoch and the nanoseconds within that second.
struct WallTime {
  int64_t sec;
  int64_t nsec;
};

constexpr std::array<string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<string_view, 7> kLongDays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                  "Friday", "Saturday", "Sunday"};
constexpr std::array<string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Reads a fixed-width field left to right; any mismatch makes the whole parse fail.
struct Cursor {
  string_view s;
  bool lit(string_view w) {
    if (!s.starts_with(w)) return false;
    s.remove_prefix(w.size());
    return true;
  }
  bool num(size_t width, int* out) {
    if (s.size() < width) return false;
    int v = 0;
    for (size_t i = 0; i < width; ++i) {
      if (!is_digit(s[i])) return false;
      v = v * 10 + (s[i] - '0');
    }
    s.remove_prefix(width);
    *out = v;
    return true;
  }
  bool month(int* out) {
    const int i = word(kMonths);
    *out = i + 1;
    return i >= 0;
  }
  // Index of the first of `words` that the input starts with, or -1.
  template <size_t N>
  int word(const std::array<string_view, N>& words) {
    for (size_t i = 0; i < N; ++i) {
      if (lit(words[i])) return static_cast<int>(i);
    }
    return -1;
  }
};

// Seconds since the epoch of a valid civil date and time (second 60, a leap second, is
// taken as the next minute's first second); nullopt for an impossible one.
std::optional<int64_t> civil_seconds(int y, int mo, int d, int h, int mi, int sec) {
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + int64_t{h} * 3600 + int64_t{mi} * 60 + sec;
}

// RFC 3339 date-time: 2024-08-20T17:05:43[.fraction](Z|+hh:mm|-hh:mm). 't', 'z' and a space
// for 'T' are allowed (RFC 3339 section 5.6); the fraction keeps 9 digits (truncated).
std::optional<WallTime> parse_rfc3339(string_view s) {
  Cursor c{s};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!c.num(4, &y) || !c.lit("-") || !c.num(2, &mo) || !c.lit("-") || !c.num(2, &d)) {
    return std::nullopt;
  }
  if (!c.lit("T") && !c.lit("t") && !c.lit(" ")) return std::nullopt;
  if (!c.num(2, &h) || !c.lit(":") || !c.num(2, &mi) || !c.lit(":") || !c.num(2, &sec)) {
    return std::nullopt;
  }
  int64_t nsec = 0;
  if (c.lit(".")) {
    size_t digits = 0;
    for (; !c.s.empty() && is_digit(c.s.front()); c.s.remove_prefix(1), ++digits) {
      if (digits < 9) nsec = nsec * 10 + (c.s.front() - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nsec *= 10;
  }
  int offset = 0;  // seconds east of UTC
  if (!c.lit("Z") && !c.lit("z")) {
    const int sign = c.lit("+") ? 1 : c.lit("-") ? -1 : 0;
    int oh = 0, om = 0;
    if (sign == 0 || !c.num(2, &oh) || !c.lit(":") || !c.num(2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = sign * (oh * 3600 + om * 60);
  }
  if (!c.s.empty()) return std::nullopt;
  const std::optional<int64_t> t = civil_seconds(y, mo, d, h, mi, sec);
  if (!t) return std::nullopt;
  return WallTime{*t - offset, nsec};
}

// RFC 9110 section 5.6.7, case-sensitive as it says. The day name must be a day name but is
// not checked against the date: it carries nothing the date does not.
//   IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//   rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT  (the year within 50 of now's: 9110 requires
//                                                 one more than 50 ahead be taken as past)
//   asctime      Sun Nov  6 08:49:37 1994
std::optional<WallTime> parse_http_date(string_view s, int now_year) {
  Cursor c{s};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  const auto time_of_day = [&] {
    return c.num(2, &h) && c.lit(":") && c.num(2, &mi) && c.lit(":") && c.num(2, &sec);
  };
  if (c.word(kLongDays) >= 0) {  // before kDays: "Monday" starts with "Mon"
    if (!c.lit(", ") || !c.num(2, &d) || !c.lit("-") || !c.month(&mo) || !c.lit("-") ||
        !c.num(2, &y) || !c.lit(" ") || !time_of_day() || !c.lit(" GMT")) {
      return std::nullopt;
    }
    y += now_year / 100 * 100;  // now the year with these digits in (now - 50, now + 50]
    if (y > now_year + 50) y -= 100;
    if (y <= now_year - 50) y += 100;
  } else if (c.word(kDays) < 0) {
    return std::nullopt;
  } else if (c.lit(", ")) {
    if (!c.num(2, &d) || !c.lit(" ") || !c.month(&mo) || !c.lit(" ") || !c.num(4, &y) ||
        !c.lit(" ") || !time_of_day() || !c.lit(" GMT")) {
      return std::nullopt;
    }
  } else {
    if (!c.lit(" ") || !c.month(&mo) || !c.lit(" ")) return std::nullopt;
    if (!(c.lit(" ") ? c.num(1, &d) : c.num(2, &d))) return std::nullopt;
    if (!c.lit(" ") || !time_of_day() || !c.lit(" ") || !c.num(4, &y)) return std::nullopt;
  }
  if (!c.s.empty()) return std::nullopt;
  const std::optional<int64_t> t = civil_seconds(y, mo, d, h, mi, sec);
  if (!t) return std::nullopt;
  return WallTime{*t, 0};
}

WallTime to_wall(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  const auto sec = floor<seconds>(tp);  // down, also before the epoch: nsec is never negative
  return {sec.time_since_epoch().count(), duration_cast<nanoseconds>(tp - sec).count()};
}

// From now until t: 0 if t is not ahead, nullopt if more than kMaxHeaderDelayNs ahead.
std::optional<Nanos> delay_until(WallTime t, WallTime now) {
  const int64_t ds = t.sec - now.sec;  // both within +-3e11: no overflow
  if (ds < 0) return 0;
  if (ds > kMaxHeaderDelayNs / kNsPerSec) return std::nullopt;
  const Nanos delta = ds * kNsPerSec + (t.nsec - now.nsec);
  if (delta < 0) return 0;
  if (delta > kMaxHeaderDelayNs) return std::nullopt;
  return delta;
}

// A reset or Retry-After value, as a delay from now.
std::optional<Nanos> parse_delay(Kind kind, string_view v, WallTime now, int now_year) {
  std::optional<WallTime> t;
  if (kind == Kind::kGoDuration) return parse_go_duration(v);
  if (kind == Kind::kRfc3339) {
    t = parse_rfc3339(v);
  } else if (const auto secs = parse_uint(v, kMaxHeaderDelayNs / kNsPerSec)) {
    return static_cast<Nanos>(*secs) * kNsPerSec;  // Retry-After: delay-seconds
  } else {
    t = parse_http_date(v, now_year);
  }
  return t ? delay_until(*t, now) : std::nullopt;
}

}  // namespace

RateHeaders parse_rate_headers(size_t n, const char* const* names, const char* const* values,
                               std::chrono::system_clock::time_point now_wall) {
  struct Slot {
    std::optional<uint64_t> remaining;
    std::optional<Nanos> reset;
  };
  std::array<Slot, kUnitCount> slots{};
  RateHeaders out;
  const WallTime now = to_wall(now_wall);
  const int now_year = static_cast<int>(
      std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now_wall)}.year());
  for (size_t i = 0; i < n; ++i) {
    const char* name = names != nullptr ? names[i] : nullptr;
    const char* value = values != nullptr ? values[i] : nullptr;
    if (name == nullptr || value == nullptr) {
      ++out.malformed;
      continue;
    }
    const KnownHeader* known = find_known(name);
    if (known == nullptr || known->kind == Kind::kLimit) continue;
    const string_view v = trim_ows(value);
    if (known->kind == Kind::kRemaining) {
      const std::optional<uint64_t> r = parse_uint(v, std::numeric_limits<uint64_t>::max());
      if (r) slots[known->unit].remaining = r;
      out.malformed += r ? 0 : 1;
    } else {
      const std::optional<Nanos> r = parse_delay(known->kind, v, now, now_year);
      if (r) (known->kind == Kind::kRetryAfter ? out.retry_after_ns : slots[known->unit].reset) = r;
      out.malformed += r ? 0 : 1;
    }
  }
  for (size_t u = 0; u < kUnitCount; ++u) {
    if (slots[u].remaining && slots[u].reset) {
      out.observations.push_back({kUnitNames[u], *slots[u].remaining, *slots[u].reset});
    }
  }
  return out;
}

}  // namespace ptl::core
