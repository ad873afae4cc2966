// The shim's one pattern: run a core call, turn every exception into a status code
// and a thread-local message, so nothing thrown ever crosses the C ABI.
#pragma once

#include <new>
#include <string>

#include <pocketflow_throttled/ptl.h>

#include "core/config.hpp"
#include "core/limiter.hpp"
#include "core/status.hpp"
#include "registry/registry.hpp"

namespace ptl::capi {

// Records msg as this thread's ptl_last_error() and returns status.
int set_error(int status, const std::string& msg) noexcept;

// Runs fn() -> int and maps exceptions: Error -> its status, bad_alloc -> PTL_ENOMEM,
// anything else -> PTL_EINTERNAL. Each carries a message naming the failing call.
template <typename Fn>
int guarded(const char* call, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const core::Error& e) {
    return set_error(static_cast<int>(e.status()), std::string(call) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return set_error(PTL_ENOMEM, std::string(call) + ": out of memory");
  } catch (const std::exception& e) {
    return set_error(PTL_EINTERNAL, std::string(call) + ": internal error: " + e.what());
  } catch (...) {
    return set_error(PTL_EINTERNAL, std::string(call) + ": internal error");
  }
}

inline int to_int(core::Status s) {
  return static_cast<int>(s);
}

// Argument checks shared by the entry points; each throws Error(kInvalid) naming the
// argument.
void require(const void* arg, const char* what);
core::LimiterConfig to_core(const ptl_limiter_config* cfg);
ptl_limiter_config to_c(const core::LimiterConfig& cfg);
void stats_to_c(const core::LimiterStats& in, ptl_limiter_stats* out);
core::Registry& registry_of(ptl_registry* reg);
core::Limiter& limiter_of(ptl_limiter* lim);

const char* last_error() noexcept;

// The opaque handles are the core objects themselves.
inline ptl_limiter* to_handle(core::LimiterPtr lim) {
  return reinterpret_cast<ptl_limiter*>(lim.detach());
}

}  // namespace ptl::capi
