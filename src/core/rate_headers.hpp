// SPDX-License-Identifier: MIT
// parse_rate_headers: what an LLM provider's response headers say is left of its quota, for
// ptl_observe_headers (ABI 0.2, ADR 15 "Observations").
//
// Pure: it reads no clock, takes no lock and touches no limiter, so the C ABI layer decides
// what to apply (ptl_observe per observation, ptl_limiter_penalize for Retry-After) and the
// tests need no limiter at all. The wall clock is a parameter because Anthropic's resets and
// Retry-After's HTTP-date are absolute times while the limiter counts durations from now.
//
// Recognised (names are ASCII case-insensitive; values are trimmed of spaces and tabs):
//   OpenAI     x-ratelimit-remaining-{requests,tokens}  a decimal integer
//              x-ratelimit-reset-{requests,tokens}      a Go duration: "1s", "6m0s", "20ms",
//                                                       "1h2m3.5s", "0" (units h m s ms us µs ns)
//   Anthropic  anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining
//              anthropic-ratelimit-{...}-reset          RFC 3339: "2024-08-20T17:05:43Z",
//                                                       "2024-08-20T19:05:43.25+02:00"
//   Retry-After                                         delay-seconds (digits only) or an
//                                                       HTTP-date in any of RFC 9110's three forms
// The *-limit headers of both families are recognised and skipped: a limit is configuration,
// not an observation, and guessing a policy from it is the caller's business.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/clock.hpp"

namespace ptl::core {

// The longest reset or Retry-After delay accepted (1e18 ns, about 31.7 years). No provider
// means more; a longer value is counted as malformed, which also keeps `now + delay` far
// from overflowing in the caller.
inline constexpr Nanos kMaxHeaderDelayNs = Nanos{1'000'000'000} * 1'000'000'000;

struct HeaderObservation {
  // "requests", "tokens", "input_tokens" or "output_tokens": a static string literal, so
  // unit.data() is NUL-terminated and may be passed to ptl_observe as it is.
  std::string_view unit;
  uint64_t remaining = 0;
  // From now_wall until the provider's count resets; 0 when that time is now or already
  // past (a response that arrives late still says "nothing left before the reset").
  Nanos reset_after_ns = 0;
};

struct RateHeaders {
  // At most one per unit, in the order requests, tokens, input_tokens, output_tokens; only
  // units that had both a valid remaining and a valid reset (a count without its reset
  // bounds nothing in time, a reset without a count says nothing).
  std::vector<HeaderObservation> observations;
  // Retry-After, from now_wall; 0 for a date already past.
  std::optional<Nanos> retry_after_ns;
  // Entries that could not be used: a NULL name or value, or a recognised header whose
  // value does not parse (negative, empty, trailing bytes, overflow, impossible date, more
  // than kMaxHeaderDelayNs ahead). They are skipped; a caller may log the count.
  size_t malformed = 0;
};

// Parses n headers given as parallel arrays of NUL-terminated strings (as the C ABI gets
// them). Never fails and never reads past a NUL: bad input only counts in `malformed`.
// NULL arrays with n > 0 count n malformed entries.
//
// A header given more than once: the last valid value wins, so a proxy that appends its own
// copy after the provider's is believed. A remaining and a reset of one unit pair up wherever
// they appear; the two families share unit names (no response carries both).
// An orphan (a unit with only a remaining or only a reset) is not malformed: some proxies
// forward only part of the set, and nothing in it is wrong.
RateHeaders parse_rate_headers(size_t n, const char* const* names, const char* const* values,
                               std::chrono::system_clock::time_point now_wall);

}  // namespace ptl::core
