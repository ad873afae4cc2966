// SPDX-License-Identifier: MIT
// Preset entry points: the generated table of exec/presets.hpp seen through ptl_preset.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "exec/preset_policies.hpp"
#include "exec/presets.hpp"
#include "shim.hpp"
#include "struct_size.hpp"

using ptl::capi::guarded;
using ptl::capi::require;
namespace core = ptl::core;
namespace exec = ptl::exec;

namespace {

// The first published layout (0.1) reaches config: `adaptive` is optional to a caller.
constexpr size_t kPresetV1Size = offsetof(ptl_preset, config) + sizeof(ptl_limiter_config);

// exec::PresetLimit is laid out as ptl_limit, so the static table is handed out as it is.
static_assert(sizeof(exec::PresetLimit) == sizeof(ptl_limit));
static_assert(offsetof(exec::PresetLimit, unit) == offsetof(ptl_limit, unit));
static_assert(offsetof(exec::PresetLimit, max) == offsetof(ptl_limit, max));
static_assert(offsetof(exec::PresetLimit, window_ns) == offsetof(ptl_limit, window_ns));

ptl_preset_policy to_c(const exec::PolicyPresetEntry& p) {
  ptl_preset_policy out{};
  out.struct_size = sizeof(ptl_preset_policy);
  out.n_limits = static_cast<uint32_t>(p.limits.size());
  out.name = p.name;
  out.description = p.description;
  out.source_date = p.source_date;
  out.source = p.source;
  out.limits = reinterpret_cast<const ptl_limit*>(p.limits.data());
  return out;
}

ptl_preset to_c(const exec::PresetEntry& p) {
  ptl_preset out{};
  out.struct_size = sizeof(ptl_preset);
  out.kind = static_cast<uint32_t>(p.kind);
  out.name = p.name;
  out.description = p.description;
  out.config = ptl::capi::to_c(p.limiter_config());
  out.adaptive.min_concurrent = p.min_concurrent;
  out.adaptive.max_concurrent = p.max_concurrent;
  out.adaptive.recovery_threshold = p.recovery_threshold;
  out.adaptive.backoff_factor = p.backoff_factor;
  out.adaptive.recovery_factor = p.recovery_factor;
  return out;
}

}  // namespace

extern "C" {

int ptl_preset_get(const char* name, ptl_preset* out) {
  return guarded("ptl_preset_get", [&] {
    require(name, "name");
    require(out, "out");
    const exec::PresetEntry* p = exec::find_preset(name);
    if (p == nullptr) {
      core::fail(core::Status::kNotFound,
                 "no preset named '" + std::string(name) + "' (ptl_preset_list gives the names)");
    }
    ptl::capi::write_out_struct(to_c(*p), out, kPresetV1Size, "ptl_preset");
    return PTL_OK;
  });
}

int ptl_preset_policy_get(const char* name, ptl_preset_policy* out) {
  return guarded("ptl_preset_policy_get", [&] {
    require(name, "name");
    require(out, "out");
    const exec::PolicyPresetEntry* p = exec::find_preset_policy(name);
    if (p == nullptr) {
      core::fail(core::Status::kNotFound, "no provider policy named '" + std::string(name) +
                                              "' (ptl_preset_policy_list gives the names)");
    }
    ptl::capi::write_out_struct(to_c(*p), out, sizeof(ptl_preset_policy), "ptl_preset_policy");
    return PTL_OK;
  });
}

int ptl_preset_policy_list(ptl_preset_policy_fn fn, void* user) {
  return guarded("ptl_preset_policy_list", [&] {
    require(reinterpret_cast<const void*>(fn), "fn");
    for (const exec::PolicyPresetEntry& p : exec::preset_policies()) {
      const ptl_preset_policy c = to_c(p);
      if (fn(user, &c) != 0) break;
    }
    return PTL_OK;
  });
}

int ptl_preset_list(ptl_preset_fn fn, void* user) {
  return guarded("ptl_preset_list", [&] {
    require(reinterpret_cast<const void*>(fn), "fn");
    for (const exec::PresetEntry& p : exec::presets()) {
      const ptl_preset c = to_c(p);
      if (fn(user, &c) != 0) break;
    }
    return PTL_OK;
  });
}

}  // extern "C"
