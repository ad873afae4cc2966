// SPDX-License-Identifier: MIT
// PolicySpec: the limits of one limiter, all admitted together (ABI 0.2; ADR 15).
//
// A limit counts one unit ("requests", "tokens", ...) either per strict sliding window
// (window_ns > 0) or held at once (window_ns == 0). A grant takes room in every limit or
// waits holding nothing. The 0.1 config is the policy {requests held, requests per
// window, tokens per window}; from_config() and to_config() translate.
//
// Every backend shares this file's rules: validation, the translation of a demand (units
// and amounts) into one charge per limit, and the defaults of amounts left out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"

namespace ptl::core {

inline constexpr size_t kMaxLimits = 16;
inline constexpr size_t kMaxUnitBytes = 32;
// Longer windows would overflow deadline arithmetic; a day is 8.64e13 ns.
inline constexpr Nanos kMaxWindowNs = Nanos{1'000'000'000} * 1'000'000'000;

inline constexpr std::string_view kRequests = "requests";
inline constexpr std::string_view kTokens = "tokens";

struct LimitSpec {
  std::string unit;     // 1..32 bytes of [a-z0-9_]
  uint64_t max = 0;     // >= 1
  Nanos window_ns = 0;  // 0: a held (concurrency) limit

  bool held() const { return window_ns == 0; }
};

bool operator==(const LimitSpec& a, const LimitSpec& b);

struct PolicySpec {
  std::vector<LimitSpec> limits;
  // Made from a 0.1 config: a demand that names no amounts costs 1 token, as 0.1's
  // plain acquire costs 1 unit on a weighted limiter. Otherwise units other than
  // "requests" default to 0.
  bool config_shorthand = false;
  // from_config only: the 0.1 window_seconds as given (the limits hold it rounded to ns),
  // kept even when no limit uses it, so that to_config() gives back the exact config.
  double config_window_seconds = 0;

  // Throws StatusError(kInvalid) naming the first bad limit.
  void validate() const;

  // Index of the limit (unit, window_ns), or -1.
  int find(std::string_view unit, Nanos window_ns) const;
  bool has_unit(std::string_view unit) const;
  // The requests-held limit's max; nullopt when the policy has none (unlimited).
  std::optional<uint64_t> max_held_requests() const;
  bool has_window() const;
  Nanos longest_window() const;

  // Sets the requests-held limit's max, adding that limit if the policy has none.
  void set_held_requests(uint64_t max);

  static PolicySpec from_config(const BasicConfig& config);
  // The 0.1 view of a policy, for ptl_limiter_stats and 0.1 callers: the requests-held
  // limit (UINT32_MAX when absent or larger), the first requests window and the tokens
  // limit of the same window. Exact when the policy came from a config.
  BasicConfig to_config() const;
};

bool operator==(const PolicySpec& a, const PolicySpec& b);

// An immutable copy of `policy`, shared with the other holders of an equal policy made
// recently (a small cache of the last few), so that many limiters of one policy cost one.
std::shared_ptr<const PolicySpec> intern_policy(const PolicySpec& policy);

// One unit's amount in a demand, as the caller names it.
struct UnitAmount {
  std::string_view unit;
  uint64_t amount = 0;
};

// A demand translated to the policy it is granted under: the amount charged to each
// limit, by index. Limits of one unit all carry that unit's amount.
struct Charges {
  std::array<uint64_t, kMaxLimits> amount{};
  uint32_t n = 0;  // the policy's limit count
};

// Translates amounts to charges. "requests" counts 1 unless given; other units count 0
// unless given (1 token for a from_config policy). With lenient_tokens (0.1's
// acquire_cost), a "tokens" amount the policy cannot hold is dropped instead of refused.
// Throws StatusError(kInvalid): a unit given twice or absent from the policy, an amount above
// one of its limits' max.
Charges resolve_charges(const PolicySpec& policy, const UnitAmount* amounts, size_t n,
                        bool lenient_tokens = false);
// The same, starting from `defaults`: resolve_charges(policy, nullptr, 0), kept by the caller.
Charges resolve_charges(const PolicySpec& policy, const Charges& defaults,
                        const UnitAmount* amounts, size_t n, bool lenient_tokens);

// Which limit of `from` each limit of `to` continues (its index, or -1 for a new limit):
// the same (unit, window_ns); else, in order, a windowed limit of the same unit that
// nothing else continues, so that a changed window keeps its history (0.1's reconfigure
// of window_seconds).
std::vector<int> match_limits(const PolicySpec& from, const PolicySpec& to);

// A waiter's charges under `from`, carried to `to` by unit: a unit both policies have
// keeps its amount, a new unit takes its default. Sets *too_big if an amount exceeds one
// of `to`'s limits (the waiter can never be granted there).
Charges remap_charges(const PolicySpec& from, const Charges& c, const PolicySpec& to,
                      bool* too_big);

// Checks a unit name (1..32 bytes of [a-z0-9_]); throws StatusError(kInvalid) naming it.
void validate_unit(std::string_view unit);

}  // namespace ptl::core
