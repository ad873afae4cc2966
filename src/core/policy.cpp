// SPDX-License-Identifier: MIT
#include "core/policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "core/status.hpp"

namespace ptl::core {
namespace {

std::string describe(const LimitSpec& l) {
  return l.unit + (l.held() ? " held" : " per " + std::to_string(l.window_ns) + " ns");
}

}  // namespace

bool operator==(const LimitSpec& a, const LimitSpec& b) {
  return a.unit == b.unit && a.max == b.max && a.window_ns == b.window_ns;
}

bool operator==(const PolicySpec& a, const PolicySpec& b) {
  return a.limits == b.limits && a.config_shorthand == b.config_shorthand &&
         a.config_window_seconds == b.config_window_seconds;
}

void validate_unit(std::string_view unit) {
  if (unit.empty()) fail(Status::kInvalid, "unit is empty");
  if (unit.size() > kMaxUnitBytes) {
    fail(Status::kInvalid,
         "unit '" + std::string(unit.substr(0, kMaxUnitBytes)) + "...' is longer than 32 bytes");
  }
  for (const char c : unit) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      fail(Status::kInvalid, "unit '" + std::string(unit) + "' may hold only a-z, 0-9 and '_'");
    }
  }
}

void PolicySpec::validate() const {
  if (limits.empty()) fail(Status::kInvalid, "a policy needs at least one limit");
  if (limits.size() > kMaxLimits) {
    fail(Status::kInvalid,
         "a policy holds at most 16 limits, not " + std::to_string(limits.size()));
  }
  for (size_t i = 0; i < limits.size(); ++i) {
    const LimitSpec& l = limits[i];
    const std::string at = "limit " + std::to_string(i) + ": ";
    try {
      validate_unit(l.unit);
    } catch (const StatusError& e) {
      fail(Status::kInvalid, at + e.what());
    }
    if (l.max == 0) fail(Status::kInvalid, at + "max must be at least 1");
    if (l.window_ns < 0) fail(Status::kInvalid, at + "window_ns must be >= 0");
    if (l.window_ns > kMaxWindowNs) fail(Status::kInvalid, at + "window_ns must be at most 1e18");
    for (size_t j = 0; j < i; ++j) {
      if (limits[j].unit == l.unit && limits[j].window_ns == l.window_ns) {
        fail(Status::kInvalid,
             at + describe(l) + " appears twice (also limit " + std::to_string(j) + ")");
      }
    }
  }
}

int PolicySpec::find(std::string_view unit, Nanos window_ns) const {
  for (size_t i = 0; i < limits.size(); ++i) {
    if (limits[i].unit == unit && limits[i].window_ns == window_ns) return static_cast<int>(i);
  }
  return -1;
}

bool PolicySpec::has_unit(std::string_view unit) const {
  return std::any_of(limits.begin(), limits.end(),
                     [&](const LimitSpec& l) { return l.unit == unit; });
}

std::optional<uint64_t> PolicySpec::max_held_requests() const {
  const int i = find(kRequests, 0);
  if (i < 0) return std::nullopt;
  return limits[static_cast<size_t>(i)].max;
}

bool PolicySpec::has_window() const {
  return std::any_of(limits.begin(), limits.end(), [](const LimitSpec& l) { return !l.held(); });
}

Nanos PolicySpec::longest_window() const {
  Nanos w = 0;
  for (const LimitSpec& l : limits) w = std::max(w, l.window_ns);
  return w;
}

void PolicySpec::set_held_requests(uint64_t max) {
  const int i = find(kRequests, 0);
  if (i >= 0) {
    limits[static_cast<size_t>(i)].max = max;
  } else {
    limits.push_back({std::string(kRequests), max, 0});
  }
}

PolicySpec PolicySpec::from_config(const BasicConfig& config) {
  PolicySpec p;
  p.config_shorthand = true;
  p.limits.push_back({std::string(kRequests), config.max_concurrent, 0});
  const Nanos window = config.window_ns();
  if (config.max_per_window != 0) {
    p.limits.push_back({std::string(kRequests), config.max_per_window, window});
  }
  if (config.max_cost_per_window != 0) {
    p.limits.push_back({std::string(kTokens), config.max_cost_per_window, window});
  }
  // The 0.1 window length survives a config without window limits, so that
  // to_config() gives back what was registered.
  p.config_window_seconds = config.window_seconds;
  return p;
}

BasicConfig PolicySpec::to_config() const {
  BasicConfig c;
  const std::optional<uint64_t> held = max_held_requests();
  c.max_concurrent = static_cast<uint32_t>(
      std::min<uint64_t>(held.value_or(UINT32_MAX), std::numeric_limits<uint32_t>::max()));
  Nanos window = 0;
  for (const LimitSpec& l : limits) {
    if (l.unit == kRequests && !l.held()) {
      c.max_per_window = l.max;
      window = l.window_ns;
      break;
    }
  }
  if (window == 0) {
    for (const LimitSpec& l : limits) {
      if (l.unit == kTokens && !l.held()) {
        window = l.window_ns;
        break;
      }
    }
  }
  if (window != 0) {
    const int tokens = find(kTokens, window);
    if (tokens >= 0) c.max_cost_per_window = limits[static_cast<size_t>(tokens)].max;
    c.window_seconds = static_cast<double>(window) / 1e9;
  }
  // A config's window as it was given: its limits hold it rounded to whole ns.
  if (config_shorthand) c.window_seconds = config_window_seconds;
  return c;
}

std::shared_ptr<const PolicySpec> intern_policy(const PolicySpec& policy) {
  // The last few policies made: registering many limiters of one policy finds it here.
  // Weak references, so a policy nobody uses any more is freed.
  static constexpr size_t kRecent = 8;
  static std::mutex mutex;
  static std::array<std::weak_ptr<const PolicySpec>, kRecent> recent;
  static size_t next = 0;
  std::lock_guard<std::mutex> lock(mutex);
  for (const std::weak_ptr<const PolicySpec>& w : recent) {
    if (std::shared_ptr<const PolicySpec> p = w.lock(); p && *p == policy) return p;
  }
  auto made = std::make_shared<const PolicySpec>(policy);
  recent[next++ % kRecent] = made;
  return made;
}

Charges resolve_charges(const PolicySpec& policy, const UnitAmount* amounts, size_t n,
                        bool lenient_tokens) {
  Charges defaults;
  defaults.n = static_cast<uint32_t>(policy.limits.size());
  for (uint32_t i = 0; i < defaults.n; ++i) {
    const std::string& unit = policy.limits[i].unit;
    defaults.amount[i] = unit == kRequests || (policy.config_shorthand && unit == kTokens) ? 1 : 0;
  }
  return resolve_charges(policy, defaults, amounts, n, lenient_tokens);
}

Charges resolve_charges(const PolicySpec& policy, const Charges& defaults,
                        const UnitAmount* amounts, size_t n, bool lenient_tokens) {
  Charges c = defaults;
  for (size_t k = 0; k < n; ++k) {
    const UnitAmount& a = amounts[k];
    for (size_t j = 0; j < k; ++j) {
      if (amounts[j].unit == a.unit) {
        fail(Status::kInvalid, "unit '" + std::string(a.unit) + "' is given twice");
      }
    }
    bool found = false;
    for (uint32_t i = 0; i < c.n; ++i) {
      const LimitSpec& l = policy.limits[i];
      if (l.unit != a.unit) continue;
      found = true;
      if (a.amount > l.max) {
        const std::string limit = policy.config_shorthand && l.unit == kTokens
                                      ? "max_cost_per_window"
                                      : "the limit's max (" + describe(l) + ")";
        fail(Status::kInvalid, "amount " + std::to_string(a.amount) + " of " + l.unit +
                                   " exceeds " + limit + " " + std::to_string(l.max));
      }
      c.amount[i] = a.amount;
    }
    if (!found && !(lenient_tokens && a.unit == kTokens)) {
      fail(Status::kInvalid, "unit '" + std::string(a.unit) + "' is not in the limiter's policy");
    }
  }
  return c;
}

std::vector<int> match_limits(const PolicySpec& from, const PolicySpec& to) {
  std::vector<int> match(to.limits.size(), -1);
  std::vector<bool> taken(from.limits.size(), false);
  for (size_t j = 0; j < to.limits.size(); ++j) {
    match[j] = from.find(to.limits[j].unit, to.limits[j].window_ns);
    if (match[j] >= 0) taken[static_cast<size_t>(match[j])] = true;
  }
  for (size_t j = 0; j < to.limits.size(); ++j) {
    const LimitSpec& l = to.limits[j];
    if (match[j] >= 0 || l.held()) continue;
    for (size_t i = 0; i < from.limits.size(); ++i) {
      if (!taken[i] && !from.limits[i].held() && from.limits[i].unit == l.unit) {
        match[j] = static_cast<int>(i);
        taken[i] = true;
        break;
      }
    }
  }
  return match;
}

Charges remap_charges(const PolicySpec& from, const Charges& c, const PolicySpec& to,
                      bool* too_big) {
  Charges out = resolve_charges(to, nullptr, 0);
  *too_big = false;
  for (uint32_t j = 0; j < out.n; ++j) {
    const LimitSpec& l = to.limits[j];
    for (size_t i = 0; i < from.limits.size(); ++i) {
      if (from.limits[i].unit == l.unit) {
        out.amount[j] = c.amount[i];
        break;
      }
    }
    if (out.amount[j] > l.max) *too_big = true;
  }
  return out;
}

}  // namespace ptl::core
