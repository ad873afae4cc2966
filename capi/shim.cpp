#include "shim.hpp"

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

void require(const void* arg, const char* what) {
  if (arg == nullptr) core::fail(core::Status::kInvalid, std::string(what) + " is NULL");
}

// The first version of the struct; later fields added after it take their defaults
// when an older caller's struct_size does not reach them.
constexpr uint32_t kConfigV1Size = offsetof(ptl_limiter_config, max_cost_per_window) + 8;

core::LimiterConfig to_core(const ptl_limiter_config* cfg) {
  require(cfg, "config");
  if (cfg->struct_size < kConfigV1Size) {
    core::fail(core::Status::kInvalid, "config struct_size is " + std::to_string(cfg->struct_size) +
                                           " (call ptl_limiter_config_init first)");
  }
  core::LimiterConfig out;
  out.max_concurrent = cfg->max_concurrent;
  out.max_per_window = cfg->max_per_window;
  out.window_seconds = cfg->window_seconds;
  out.max_cost_per_window = cfg->max_cost_per_window;
  out.validate();
  return out;
}

ptl_limiter_config to_c(const core::LimiterConfig& cfg) {
  ptl_limiter_config out;
  out.struct_size = sizeof(ptl_limiter_config);
  out.max_concurrent = cfg.max_concurrent;
  out.max_per_window = cfg.max_per_window;
  out.window_seconds = cfg.window_seconds;
  out.max_cost_per_window = cfg.max_cost_per_window;
  return out;
}

core::Registry& registry_of(ptl_registry* reg) {
  return reg == nullptr ? core::Registry::default_registry()
                        : *reinterpret_cast<core::Registry*>(reg);
}

core::Limiter& limiter_of(ptl_limiter* lim) {
  require(lim, "limiter");
  return *reinterpret_cast<core::Limiter*>(lim);
}

}  // namespace ptl::capi
