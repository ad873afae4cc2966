// SPDX-License-Identifier: MIT
#include "shim.hpp"

#include "struct_size.hpp"

#include <cstddef>
#include <cstring>

namespace ptl::capi {
namespace {
thread_local std::string t_last_error;
}  // namespace

int set_error(int status, const std::string& msg) noexcept {
  try {
    t_last_error = msg;
  } catch (...) {
    t_last_error.clear();  // no memory for the message; the status still tells
  }
  return status;
}

const char* last_error() noexcept {
  return t_last_error.c_str();
}

int acquire_failure(const char* call, core::Status st, int64_t timeout_ns) {
  switch (st) {
    case core::Status::kOk:
      return PTL_OK;
    case core::Status::kTimedOut:
      return set_error(PTL_ETIMEDOUT, std::string(call) + ": no permit within " +
                                          std::to_string(timeout_ns) + " ns");
    case core::Status::kAgain:
      return set_error(PTL_EAGAIN, std::string(call) + ": no capacity now");
    default:
      return set_error(to_int(st), std::string(call) + ": " + ptl_status_name(to_int(st)));
  }
}

std::vector<core::UnitAmount> amounts_of(const ptl_amount* a, size_t n) {
  if (n > 0) require(a, "amounts");
  if (n > PTL_MAX_LIMITS) {
    core::fail(core::Status::kInvalid,
               std::to_string(n) + " amounts: a policy has at most 16 units");
  }
  std::vector<core::UnitAmount> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (a[i].unit == nullptr) {
      core::fail(core::Status::kInvalid, "amount " + std::to_string(i) + ": unit is NULL");
    }
    const std::string_view unit(a[i].unit, strnlen(a[i].unit, core::kMaxUnitBytes + 1));
    core::validate_unit(unit);
    out.push_back({unit, a[i].amount});
  }
  return out;
}

int observe_all(core::LimiterBackend& lim, const core::RateHeaders& parsed) {
  const core::PolicySpec policy = lim.policy();
  int applied = 0;
  for (const core::HeaderObservation& o : parsed.observations) {
    if (!policy.has_unit(o.unit)) continue;  // a count this limiter does not keep
    lim.observe(o.unit, o.remaining, o.reset_after_ns);
    ++applied;
  }
  return applied;
}

void fail_null(const char* what) {
  core::fail(core::Status::kInvalid, std::string(what) + " is NULL");
}

// The struct's first published layout (0.1).
constexpr size_t kConfigV1Size = offsetof(ptl_limiter_config, max_cost_per_window) + 8;

core::BasicConfig read_config(const ptl_limiter_config* cfg) {
  require(cfg, "config");
  const ptl_limiter_config in =
      read_in_struct(cfg, to_c(core::BasicConfig{}), kConfigV1Size, "ptl_limiter_config");
  core::BasicConfig out;
  out.max_concurrent = in.max_concurrent;
  out.max_per_window = in.max_per_window;
  out.window_seconds = in.window_seconds;
  out.max_cost_per_window = in.max_cost_per_window;
  return out;
}

core::BasicConfig to_core(const ptl_limiter_config* cfg) {
  core::BasicConfig out = read_config(cfg);
  out.validate();
  return out;
}

ptl_limiter_config to_c(const core::BasicConfig& cfg) {
  ptl_limiter_config out;
  out.struct_size = sizeof(ptl_limiter_config);
  out.max_concurrent = cfg.max_concurrent;
  out.max_per_window = cfg.max_per_window;
  out.window_seconds = cfg.window_seconds;
  out.max_cost_per_window = cfg.max_cost_per_window;
  return out;
}

core::RegistryBackend& registry_of(ptl_registry* reg) {
  return reg == nullptr ? core::RegistryBackend::default_registry()
                        : *reinterpret_cast<core::RegistryBackend*>(reg);
}

}  // namespace ptl::capi
