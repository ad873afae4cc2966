// SPDX-License-Identifier: MIT
// Limiter entry points: the hot path (acquire/release) stays a null check and a
// virtual call; errors go through guarded().
#include "core/local_limiter.hpp"
#include "shim.hpp"

using ptl::capi::acquire_outcome;
using ptl::capi::guarded;
using ptl::capi::limiter_of;
using ptl::capi::require;
using ptl::capi::to_int;
namespace core = ptl::core;

extern "C" {

void ptl_limiter_config_init(ptl_limiter_config* cfg) {
  if (cfg != nullptr) *cfg = ptl::capi::to_c(core::BasicConfig{});
}

int ptl_limiter_create(const ptl_limiter_config* cfg, ptl_limiter** out) {
  return guarded("ptl_limiter_create", [&] {
    const core::BasicConfig config = ptl::capi::to_core(cfg);
    require(out, "out");
    *out = ptl::capi::to_handle(core::LimiterPtr(new core::LocalLimiter(config), false));
    return PTL_OK;
  });
}

void ptl_limiter_ref(ptl_limiter* lim) {
  if (lim != nullptr) limiter_of(lim).add_ref();
}

void ptl_limiter_unref(ptl_limiter* lim) {
  if (lim != nullptr) limiter_of(lim).drop_ref();
}

int ptl_limiter_stats_get(ptl_limiter* lim, ptl_limiter_stats* out) {
  return guarded("ptl_limiter_stats_get", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(out, "out");
    ptl::capi::stats_to_c(l.stats(), out);
    return PTL_OK;
  });
}

int ptl_limiter_reconfigure(ptl_limiter* lim, const ptl_limiter_config* cfg) {
  return guarded("ptl_limiter_reconfigure", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    l.reconfigure(ptl::capi::to_core(cfg));
    return PTL_OK;
  });
}

int ptl_acquire(ptl_limiter* lim, int64_t timeout_ns, ptl_permit* out) {
  return guarded("ptl_acquire", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(out, "out");
    return acquire_outcome("ptl_acquire", l.acquire(core::Demand{}, timeout_ns, out), timeout_ns);
  });
}

int ptl_try_acquire(ptl_limiter* lim, ptl_permit* out, int64_t* retry_after_ns) {
  return guarded("ptl_try_acquire", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(out, "out");
    return acquire_outcome("ptl_try_acquire", l.try_acquire(core::Demand{}, out, retry_after_ns),
                           0);
  });
}

int ptl_acquire_cost(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns, ptl_permit* out) {
  return guarded("ptl_acquire_cost", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(out, "out");
    return acquire_outcome("ptl_acquire_cost", l.acquire_cost(cost, timeout_ns, out), timeout_ns);
  });
}

int ptl_release(ptl_limiter* lim, ptl_permit permit) {
  return guarded("ptl_release", [&] {
    limiter_of(lim).release(permit, std::nullopt);
    return PTL_OK;
  });
}

int ptl_release_cost(ptl_limiter* lim, ptl_permit permit, uint64_t actual_cost) {
  return guarded("ptl_release_cost", [&] {
    limiter_of(lim).release(permit, actual_cost);
    return PTL_OK;
  });
}

int ptl_acquire_async(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns, ptl_acquire_fn fn,
                      void* user, uint64_t* ticket) {
  return guarded("ptl_acquire_async", [&] {
    core::LimiterBackend& l = limiter_of(lim);
    require(reinterpret_cast<const void*>(fn), "fn");
    const core::UnitAmount tokens{core::kTokens, cost};
    l.acquire_async(core::Demand{&tokens, 1, true}, timeout_ns, core::AcquireCallback{fn, user},
                    ticket);
    return PTL_OK;
  });
}

int ptl_cancel(ptl_limiter* lim, uint64_t ticket) {
  return guarded("ptl_cancel", [&] {
    const core::Status st = limiter_of(lim).cancel(ticket);
    if (st == core::Status::kNotFound) {
      return ptl::capi::set_error(PTL_ENOTFOUND, "ptl_cancel: ticket " + std::to_string(ticket) +
                                                     " is not pending (completed or unknown)");
    }
    return to_int(st);
  });
}

int ptl_limiter_penalize(ptl_limiter* lim, int64_t retry_after_ns) {
  return guarded("ptl_limiter_penalize", [&] {
    limiter_of(lim).penalize(retry_after_ns);
    return PTL_OK;
  });
}

}  // extern "C"
