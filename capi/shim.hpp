// SPDX-License-Identifier: MIT
// The shim's one pattern: run a core call, turn every exception into a status code
// and a thread-local message, so nothing thrown ever crosses the C ABI.
#pragma once

#include <new>
#include <string>
#include <vector>

#include <pocketflow_throttled/ptl.h>

#include "core/config.hpp"
#include "core/limiter_backend.hpp"
#include "core/rate_headers.hpp"
#include "core/status.hpp"
#include "registry/registry_backend.hpp"

namespace ptl::capi {

// Records msg as this thread's ptl_last_error() and returns status.
int set_error(int status, const std::string& msg) noexcept;

// Runs fn() -> int and maps exceptions: StatusError -> its status, bad_alloc -> PTL_ENOMEM,
// anything else -> PTL_EINTERNAL. Each carries a message naming the failing call.
// Always inlined, like the helpers below that every call makes: the C ABI's cost over the
// core is then the exported call and the virtual one, with no calls in between (the
// handlers are cold code that the happy path never touches).
template <typename Fn>
[[gnu::always_inline]] inline int guarded(const char* call, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const core::StatusError& e) {
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

// Throws StatusError(kInvalid): "<what> is NULL". Out of line: the failure is cold.
[[noreturn]] void fail_null(const char* what);

// Argument checks shared by the entry points; each throws StatusError(kInvalid) naming the
// argument.
inline void require(const void* arg, const char* what) {
  if (arg == nullptr) [[unlikely]] {
    fail_null(what);
  }
}
core::BasicConfig to_core(const ptl_limiter_config* cfg);
// to_core without the validation, for a config that is part of a larger whole validated
// as one (exec::RunOptions::prepare).
core::BasicConfig read_config(const ptl_limiter_config* cfg);
ptl_limiter_config to_c(const core::BasicConfig& cfg);
void stats_to_c(const core::StatsSnapshot& in, ptl_limiter_stats* out);
core::RegistryBackend& registry_of(ptl_registry* reg);
inline core::LimiterBackend& limiter_of(ptl_limiter* lim) {
  require(lim, "limiter");
  return *reinterpret_cast<core::LimiterBackend*>(lim);
}

const char* last_error() noexcept;

// Amounts as the core reads them; the views point into the caller's strings, which live
// for the call. Throws StatusError(kInvalid) for NULL arrays or units, or more than 16.
std::vector<core::UnitAmount> amounts_of(const ptl_amount* a, size_t n);
// Observes every observation of `parsed` whose unit the limiter's policy has; the count.
int observe_all(core::LimiterBackend& lim, const core::RateHeaders& parsed);

// The status of a failed acquire, with a message: ptl_last_error() must never show an
// older, unrelated one after a negative status.
int acquire_failure(const char* call, core::Status st, int64_t timeout_ns);

// The status of an acquire: PTL_OK inline, a failure through acquire_failure.
inline int acquire_outcome(const char* call, core::Status st, int64_t timeout_ns) {
  if (st == core::Status::kOk) [[likely]] {
    return PTL_OK;
  }
  return acquire_failure(call, st, timeout_ns);
}

// The opaque handles are the core objects themselves.
inline ptl_limiter* to_handle(core::LimiterPtr lim) {
  return reinterpret_cast<ptl_limiter*>(lim.detach());
}

}  // namespace ptl::capi
