// Preset entry points: the generated table of exec/presets.hpp seen through ptl_preset.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "exec/presets.hpp"
#include "shim.hpp"

using ptl::capi::guarded;
using ptl::capi::require;
namespace core = ptl::core;
namespace exec = ptl::exec;

namespace {

// The least a caller's struct must hold: everything up to and including config.
constexpr size_t kPresetMinSize = offsetof(ptl_preset, config) + sizeof(ptl_limiter_config);

ptl_preset to_c(const exec::Preset& p) {
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
    if (out->struct_size < kPresetMinSize) {
      core::fail(core::Status::kInvalid,
                 "preset struct_size is " + std::to_string(out->struct_size) + ", at least " +
                     std::to_string(kPresetMinSize) + " needed (set it to sizeof(ptl_preset))");
    }
    const exec::Preset* p = exec::find_preset(name);
    if (p == nullptr) {
      core::fail(core::Status::kNotFound,
                 "no preset named '" + std::string(name) + "' (ptl_preset_list gives the names)");
    }
    const ptl_preset full = to_c(*p);
    const uint32_t caller_size = out->struct_size;
    std::memcpy(static_cast<void*>(out), &full, std::min<size_t>(caller_size, sizeof(full)));
    out->struct_size = caller_size;
    return PTL_OK;
  });
}

int ptl_preset_list(ptl_preset_fn fn, void* user) {
  return guarded("ptl_preset_list", [&] {
    require(reinterpret_cast<const void*>(fn), "fn");
    for (const exec::Preset& p : exec::presets()) {
      const ptl_preset c = to_c(p);
      if (fn(user, &c) != 0) break;
    }
    return PTL_OK;
  });
}

}  // extern "C"
