// SPDX-License-Identifier: MIT
/* C helpers of the Go binding: each fallible call copies ptl_last_error() (thread-local)
 * into a malloc'd string before returning to Go, where a goroutine may change threads. */
#ifndef PTLGO_SHIM_H
#define PTLGO_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <pocketflow_throttled/ptl.h>

#define PTLGO_PENDING 1 /* ptlgo_acquire: the grant will come through ptlgoAcquireDone */

/* One asynchronous acquire; C memory, freed by Go once the library's callback has run. */
typedef struct ptlgo_acq {
  int phase; /* 0 started, 1 Go waits (handle set), 2 completed */
  int status;
  uint64_t permit;
  uintptr_t handle; /* cgo.Handle of the Go channel to notify */
} ptlgo_acq;

/* Results returned by value: Go then passes no pointer, so nothing escapes to its heap. */
typedef struct ptlgo_grant {
  int rc;                 /* PTL_OK, PTLGO_PENDING or an error */
  uint64_t permit;        /* PTL_OK */
  uint64_t ticket;        /* PTLGO_PENDING: for ptl_cancel */
  ptlgo_acq* pending;     /* PTLGO_PENDING: arm it, wait, then free it */
  int64_t retry_after_ns; /* ptlgo_try_acquire, PTL_EAGAIN */
  char* err;              /* malloc'd message on failure, or NULL */
} ptlgo_grant;

typedef struct ptlgo_status {
  int rc;
  char* err;
} ptlgo_status;

ptlgo_grant ptlgo_acquire(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns);
ptlgo_grant ptlgo_try_acquire(ptl_limiter* lim);
ptlgo_status ptlgo_release(ptl_limiter* lim, uint64_t permit, uint64_t cost, int with_cost);
int ptlgo_arm(ptlgo_acq* a, uintptr_t handle);

int ptlgo_open(const char* uri, ptl_registry** out, char** err);
int ptlgo_register(ptl_registry* reg, const char* name, const ptl_limiter_config* cfg,
                   uint32_t flags, char** err);
int ptlgo_get(ptl_registry* reg, const char* name, ptl_limiter** out, char** err);
int ptlgo_get_or_create(ptl_registry* reg, const char* name, const ptl_limiter_config* cfg,
                        ptl_limiter** out, char** err);
int ptlgo_exists(ptl_registry* reg, const char* name, char** err);
int ptlgo_remove(ptl_registry* reg, const char* name, char** err);
int ptlgo_reset(ptl_registry* reg, char** err);
int ptlgo_list(ptl_registry* reg, uintptr_t handle, char** err);
int ptlgo_registry_stats(ptl_registry* reg, const char* name, ptl_limiter_stats* out, char** err);
int ptlgo_create(const ptl_limiter_config* cfg, ptl_limiter** out, char** err);
int ptlgo_stats(ptl_limiter* lim, ptl_limiter_stats* out, char** err);
int ptlgo_reconfigure(ptl_limiter* lim, const ptl_limiter_config* cfg, char** err);
int ptlgo_penalize(ptl_limiter* lim, int64_t retry_after_ns, char** err);
int ptlgo_log_set_level(int level, char** err);

/* Policies (0.2). Units, header names and header values come from Go as one buffer of n
 * NUL-terminated strings back to back ("tokens\0input_tokens\0"): Go memory without
 * pointers, which cgo passes as it is; the shim builds the C arrays for the call. */
ptlgo_grant ptlgo_acquire_amounts(ptl_limiter* lim, const char* units, const uint64_t* amounts,
                                  size_t n, int64_t timeout_ns);
ptlgo_grant ptlgo_try_acquire_amounts(ptl_limiter* lim, const char* units,
                                      const uint64_t* amounts, size_t n);
int ptlgo_settle(ptl_limiter* lim, uint64_t permit, const char* units, const uint64_t* amounts,
                 size_t n, char** err);
int ptlgo_create_policy(const char* units, const uint64_t* maxes, const int64_t* windows,
                        size_t n, ptl_limiter** out, char** err);
int ptlgo_register_policy(ptl_registry* reg, const char* name, const char* units,
                          const uint64_t* maxes, const int64_t* windows, size_t n, uint32_t flags,
                          char** err);
int ptlgo_get_or_create_policy(ptl_registry* reg, const char* name, const char* units,
                               const uint64_t* maxes, const int64_t* windows, size_t n,
                               ptl_limiter** out, char** err);
int ptlgo_set_policy(ptl_limiter* lim, const char* units, const uint64_t* maxes,
                     const int64_t* windows, size_t n, char** err);
int ptlgo_get_policy(ptl_limiter* lim, ptl_limit* out, size_t cap, size_t* n, char** err);
int ptlgo_observe(ptl_limiter* lim, const char* unit, uint64_t remaining, int64_t reset_after_ns,
                  char** err);
int ptlgo_observe_headers(ptl_limiter* lim, const char* names, const char* values, size_t n,
                          char** err);
int ptlgo_usage(ptl_limiter* lim, const char* unit, int64_t window_ns, ptl_usage* out,
                char** err);
int ptlgo_preset_policy_get(const char* name, ptl_preset_policy* out, char** err);
int ptlgo_preset_policy_list(uintptr_t handle, char** err);

#endif
