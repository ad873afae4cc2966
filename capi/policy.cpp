// SPDX-License-Identifier: MIT
// Policy entry points (0.2): policies in and out, acquires with amounts, settle,
// provider observations and usage. Everything goes through the core's LimiterBackend interface,
// so every backend serves them.
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/local_limiter.hpp"
#include "core/rate_headers.hpp"
#include "shim.hpp"
#include "struct_size.hpp"

using ptl::capi::guarded;
using ptl::capi::limiter_of;
using ptl::capi::require;
namespace core = ptl::core;

namespace {

constexpr size_t kPolicyV1Size = sizeof(ptl_policy);

core::PolicySpec to_core(const ptl_policy* p) {
  require(p, "policy");
  ptl_policy defaults;
  ptl_policy_init(&defaults);
  const ptl_policy in = ptl::capi::read_in_struct(p, defaults, kPolicyV1Size, "ptl_policy");
  if (in.n_limits == 0) core::fail(core::Status::kInvalid, "a policy needs at least one limit");
  if (in.n_limits > PTL_MAX_LIMITS) {
    core::fail(core::Status::kInvalid,
               "a policy holds at most 16 limits, not " + std::to_string(in.n_limits));
  }
  require(in.limits, "policy limits");
  core::PolicySpec out;
  for (uint32_t i = 0; i < in.n_limits; ++i) {
    const ptl_limit& l = in.limits[i];
    if (l.unit == nullptr) {
      core::fail(core::Status::kInvalid, "limit " + std::to_string(i) + ": unit is NULL");
    }
    // Bounded read: a unit longer than 32 bytes is refused by validate() either way.
    out.limits.push_back(
        {std::string(l.unit, strnlen(l.unit, core::kMaxUnitBytes + 1)), l.max, l.window_ns});
  }
  out.validate();
  return out;
}

// Unit strings handed out by ptl_limiter_get_policy: one copy of each, never freed, so
// they outlive every limiter (units are short and few).
const char* interned(const std::string& unit) {
  static std::mutex mutex;
  static auto* units = new std::set<std::string>();
  std::lock_guard<std::mutex> lock(mutex);
  return units->insert(unit).first->c_str();
}

}  // namespace

extern "C" {

void ptl_policy_init(ptl_policy* p) {
  if (p == nullptr) return;
  *p = ptl_policy{};
  p->struct_size = sizeof(ptl_policy);
}

int ptl_limiter_create_policy(const ptl_policy* p, ptl_limiter** out) {
  return guarded("ptl_limiter_create_policy", [&] {
    const core::PolicySpec policy = to_core(p);
    require(out, "out");
    *out = ptl::capi::to_handle(core::LimiterPtr(new core::LocalLimiter(policy), false));
    return PTL_OK;
  });
}

int ptl_registry_register_policy(ptl_registry* reg, const char* name, const ptl_policy* p,
                                 uint32_t flags) {
  return guarded("ptl_registry_register_policy", [&] {
    core::validate_name(name);
    const core::PolicySpec policy = to_core(p);
    if ((flags & ~uint32_t{PTL_REPLACE}) != 0) {
      core::fail(core::Status::kInvalid, "unknown flags " + std::to_string(flags));
    }
    ptl::capi::registry_of(reg).register_limiter(name, policy, (flags & PTL_REPLACE) != 0);
    return PTL_OK;
  });
}

int ptl_registry_get_or_create_policy(ptl_registry* reg, const char* name, const ptl_policy* p,
                                      ptl_limiter** out) {
  return guarded("ptl_registry_get_or_create_policy", [&] {
    core::validate_name(name);
    const core::PolicySpec policy = to_core(p);
    require(out, "out");
    *out = ptl::capi::to_handle(ptl::capi::registry_of(reg).get_or_create(name, policy));
    return PTL_OK;
  });
}

int ptl_limiter_set_policy(ptl_limiter* lim, const ptl_policy* p) {
  return guarded("ptl_limiter_set_policy", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    l.set_policy(to_core(p));
    return PTL_OK;
  });
}

int ptl_limiter_get_policy(ptl_limiter* lim, ptl_limit* out, size_t cap, size_t* n) {
  return guarded("ptl_limiter_get_policy", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(n, "n");
    if (cap > 0) require(out, "out");
    const core::PolicySpec policy = l.policy();
    *n = policy.limits.size();
    for (size_t i = 0; i < std::min(cap, policy.limits.size()); ++i) {
      const core::LimitSpec& in = policy.limits[i];
      out[i] = ptl_limit{interned(in.unit), in.max, in.window_ns};
    }
    return PTL_OK;
  });
}

int ptl_acquire_amounts(ptl_limiter* lim, const ptl_amount* a, size_t n, int64_t timeout_ns,
                        ptl_permit* out) {
  return guarded("ptl_acquire_amounts", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(out, "out");
    const std::vector<core::UnitAmount> amounts = ptl::capi::amounts_of(a, n);
    return ptl::capi::acquire_outcome(
        "ptl_acquire_amounts",
        l.acquire(core::Demand{amounts.data(), amounts.size()}, timeout_ns, out), timeout_ns);
  });
}

int ptl_try_acquire_amounts(ptl_limiter* lim, const ptl_amount* a, size_t n, ptl_permit* out,
                            int64_t* retry_after_ns) {
  return guarded("ptl_try_acquire_amounts", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(out, "out");
    const std::vector<core::UnitAmount> amounts = ptl::capi::amounts_of(a, n);
    return ptl::capi::acquire_outcome(
        "ptl_try_acquire_amounts",
        l.try_acquire(core::Demand{amounts.data(), amounts.size()}, out, retry_after_ns), 0);
  });
}

int ptl_acquire_amounts_async(ptl_limiter* lim, const ptl_amount* a, size_t n, int64_t timeout_ns,
                              ptl_acquire_fn fn, void* user, uint64_t* ticket) {
  return guarded("ptl_acquire_amounts_async", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(reinterpret_cast<const void*>(fn), "fn");
    const std::vector<core::UnitAmount> amounts = ptl::capi::amounts_of(a, n);
    l.acquire_async(core::Demand{amounts.data(), amounts.size()}, timeout_ns,
                    core::AcquireCallback{fn, user}, ticket);
    return PTL_OK;
  });
}

int ptl_settle(ptl_limiter* lim, ptl_permit permit, const ptl_amount* actual, size_t n) {
  return guarded("ptl_settle", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    const std::vector<core::UnitAmount> amounts = ptl::capi::amounts_of(actual, n);
    l.settle(permit, core::Demand{amounts.data(), amounts.size()});
    return PTL_OK;
  });
}

int ptl_observe(ptl_limiter* lim, const char* unit, uint64_t remaining, int64_t reset_after_ns) {
  return guarded("ptl_observe", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(unit, "unit");
    l.observe(std::string_view(unit, strnlen(unit, core::kMaxUnitBytes + 1)), remaining,
              reset_after_ns);
    return PTL_OK;
  });
}

int ptl_observe_headers(ptl_limiter* lim, size_t n, const char* const* names,
                        const char* const* values) {
  return guarded("ptl_observe_headers", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    if (n > 0) {
      require(names, "names");
      require(values, "values");
    }
    const core::RateHeaders parsed =
        core::parse_rate_headers(n, names, values, std::chrono::system_clock::now());
    int applied = ptl::capi::observe_all(l, parsed);
    if (parsed.retry_after_ns) {
      l.penalize(*parsed.retry_after_ns);
      ++applied;
    }
    return applied;
  });
}

int ptl_limiter_usage(ptl_limiter* lim, const char* unit, int64_t window_ns, ptl_usage* out) {
  return guarded("ptl_limiter_usage", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(unit, "unit");
    require(out, "out");
    const core::LimitUsage u =
        l.usage(std::string_view(unit, strnlen(unit, core::kMaxUnitBytes + 1)), window_ns);
    ptl_usage full{};
    full.struct_size = sizeof(ptl_usage);
    full.max = u.max;
    full.window_ns = u.window_ns;
    full.used = u.used;
    full.observed_cap = u.observed_cap;
    full.next_room_ns = u.next_room_ns;
    ptl::capi::write_out_struct(full, out, sizeof(ptl_usage), "ptl_usage");
    return PTL_OK;
  });
}

}  // extern "C"
