// SPDX-License-Identifier: MIT
// Registry entry points: argument checks, then the core registry.
#include <algorithm>
#include <cstring>

#include "log/log.hpp"
#include "shim.hpp"
#include "struct_size.hpp"

using ptl::capi::guarded;
using ptl::capi::registry_of;
using ptl::capi::require;
namespace core = ptl::core;

namespace {

std::string_view checked_name(const char* name) {
  core::validate_name(name);
  return name;
}

[[noreturn]] void not_found(std::string_view name) {
  core::fail(core::Status::kNotFound, "no limiter named '" + std::string(name) + "'");
}

void fill_stats(const core::StatsSnapshot& in, ptl_limiter_stats* out) {
  require(out, "stats");
  ptl_limiter_stats full{};
  full.struct_size = sizeof(ptl_limiter_stats);
  full.config = ptl::capi::to_c(in.config);
  full.in_flight = in.in_flight;
  full.waiting = in.waiting;
  full.current_window_count = in.current_window_count;
  full.current_window_cost = in.current_window_cost;
  full.total_acquired = in.total_acquired;
  full.total_timeouts = in.total_timeouts;
  full.total_cancelled = in.total_cancelled;
  full.total_rejected = in.total_rejected;
  full.total_wait_ns = in.total_wait_ns;
  // Any size: 0.1 filled what fits of a stats struct, whatever its size.
  ptl::capi::write_out_struct(full, out, sizeof(uint32_t), "ptl_limiter_stats");
}

}  // namespace

namespace ptl::capi {
void stats_to_c(const core::StatsSnapshot& in, ptl_limiter_stats* out) {
  fill_stats(in, out);
}
}  // namespace ptl::capi

extern "C" {

int ptl_registry_open(const char* uri, ptl_registry** out) {
  return guarded("ptl_registry_open", [&] {
    require(uri, "uri");
    require(out, "out");
    *out = reinterpret_cast<ptl_registry*>(core::RegistryBackend::open(uri).release());
    ptl::log::logger().debug("opened registry {}", uri);
    return PTL_OK;
  });
}

void ptl_registry_close(ptl_registry* reg) {
  delete reinterpret_cast<core::RegistryBackend*>(reg);  // NULL, the default registry, is a no-op
}

int ptl_registry_register(ptl_registry* reg, const char* name, const ptl_limiter_config* cfg,
                          uint32_t flags) {
  return guarded("ptl_registry_register", [&] {
    const std::string_view n = checked_name(name);
    const core::BasicConfig config = ptl::capi::to_core(cfg);
    if ((flags & ~PTL_REPLACE) != 0) {
      core::fail(core::Status::kInvalid, "unknown flags " + std::to_string(flags));
    }
    registry_of(reg).register_limiter(n, core::PolicySpec::from_config(config),
                                      (flags & PTL_REPLACE) != 0);
    ptl::log::logger().info("registered limiter '{}' (max_concurrent {}, {} per {} s)", n,
                            config.max_concurrent, config.max_per_window, config.window_seconds);
    return PTL_OK;
  });
}

int ptl_registry_get(ptl_registry* reg, const char* name, ptl_limiter** out) {
  return guarded("ptl_registry_get", [&] {
    const std::string_view n = checked_name(name);
    require(out, "out");
    core::LimiterPtr lim = registry_of(reg).get(n);
    if (!lim) not_found(n);
    *out = ptl::capi::to_handle(std::move(lim));
    return PTL_OK;
  });
}

int ptl_registry_get_or_create(ptl_registry* reg, const char* name, const ptl_limiter_config* cfg,
                               ptl_limiter** out) {
  return guarded("ptl_registry_get_or_create", [&] {
    const std::string_view n = checked_name(name);
    const core::BasicConfig config = ptl::capi::to_core(cfg);
    require(out, "out");
    *out = ptl::capi::to_handle(
        registry_of(reg).get_or_create(n, core::PolicySpec::from_config(config)));
    return PTL_OK;
  });
}

int ptl_registry_exists(ptl_registry* reg, const char* name) {
  return guarded("ptl_registry_exists",
                 [&] { return registry_of(reg).exists(checked_name(name)) ? 1 : 0; });
}

int ptl_registry_remove(ptl_registry* reg, const char* name) {
  return guarded("ptl_registry_remove", [&] {
    const std::string_view n = checked_name(name);
    if (!registry_of(reg).remove(n)) not_found(n);
    return PTL_OK;
  });
}

int ptl_registry_reset(ptl_registry* reg) {
  return guarded("ptl_registry_reset", [&] {
    registry_of(reg).reset();
    return PTL_OK;
  });
}

int ptl_registry_list(ptl_registry* reg, ptl_list_fn fn, void* user) {
  return guarded("ptl_registry_list", [&] {
    require(reinterpret_cast<const void*>(fn), "fn");
    for (const core::NamedConfig& entry : registry_of(reg).list()) {
      const ptl_limiter_config cfg = ptl::capi::to_c(entry.config);
      if (fn(user, entry.name.c_str(), &cfg) != 0) break;
    }
    return PTL_OK;
  });
}

int ptl_registry_stats(ptl_registry* reg, const char* name, ptl_limiter_stats* out) {
  return guarded("ptl_registry_stats", [&] {
    const std::string_view n = checked_name(name);
    require(out, "out");
    core::LimiterPtr lim = registry_of(reg).get(n);
    if (!lim) not_found(n);
    fill_stats(lim->stats(), out);
    return PTL_OK;
  });
}

int ptl_registry_destroy(const char* uri, uint32_t flags) {
  return guarded("ptl_registry_destroy", [&] {
    require(uri, "uri");
    if ((flags & ~PTL_FORCE) != 0) {
      core::fail(core::Status::kInvalid, "unknown flags " + std::to_string(flags));
    }
    core::RegistryBackend::destroy(uri, (flags & PTL_FORCE) != 0);
    return PTL_OK;
  });
}

}  // extern "C"
