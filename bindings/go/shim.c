// SPDX-License-Identifier: MIT
// C side of the Go binding (see shim.h). Compiled by cgo with the package's flags.
#include "shim.h"

#include <string.h>

#include "_cgo_export.h"

#define PTLGO_RETURN(call)                                 \
  do {                                                     \
    int rc_ = (call);                                      \
    if (rc_ < 0 && err != NULL) *err = strdup(ptl_last_error()); \
    return rc_;                                            \
  } while (0)

// The library's completion of an async acquire: exactly once, on any thread. Notifies Go only
// if Go is already waiting (phase 1); otherwise the starter finds phase 2 and reads the result.
static void on_done(void* user, int status, ptl_permit permit) {
  ptlgo_acq* a = user;
  a->status = status;
  a->permit = permit;
  if (__atomic_exchange_n(&a->phase, 2, __ATOMIC_ACQ_REL) == 1) {
    // Go frees `a` only after this notification, so reading the handle here is safe.
    ptlgoAcquireDone(a->handle);
  }
}

// One spare per OS thread: an acquire granted inline (the common case) returns it here
// instead of to malloc; only a pending acquire keeps its struct, until Go frees it.
static __thread ptlgo_acq* spare;

// Starts an acquire of `cost` (amounts == 0) or of the n amounts at a (the library copies
// them before returning).
static ptlgo_grant start_acquire(ptl_limiter* lim, uint64_t cost, int amounts,
                                 const ptl_amount* am, size_t n, int64_t timeout_ns) {
  ptlgo_grant g = {0};
  ptlgo_acq* a = spare != NULL ? spare : malloc(sizeof *a);
  spare = NULL;
  if (a == NULL) {
    g.rc = PTL_ENOMEM;
    g.err = strdup("out of memory");
    return g;
  }
  a->phase = 0;
  g.rc = amounts ? ptl_acquire_amounts_async(lim, am, n, timeout_ns, on_done, a, &g.ticket)
                 : ptl_acquire_async(lim, cost, timeout_ns, on_done, a, &g.ticket);
  if (g.rc != PTL_OK) {  // the callback never runs then
    g.err = strdup(ptl_last_error());
    spare = a;
    return g;
  }
  if (__atomic_load_n(&a->phase, __ATOMIC_ACQUIRE) == 2) {  // granted (or failed) inline
    g.rc = a->status;  // on failure, Go words the message: ptl_last_error() is not about it
    g.permit = a->permit;
    spare = a;  // a callback that ran inline is done with it
    return g;
  }
  g.rc = PTLGO_PENDING;
  g.pending = a;
  return g;
}

ptlgo_grant ptlgo_acquire(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns) {
  return start_acquire(lim, cost, 0, NULL, 0, timeout_ns);
}

ptlgo_grant ptlgo_try_acquire(ptl_limiter* lim) {
  ptlgo_grant g = {0};
  g.retry_after_ns = -1;
  g.rc = ptl_try_acquire(lim, &g.permit, &g.retry_after_ns);
  if (g.rc < 0) g.err = strdup(ptl_last_error());
  return g;
}

ptlgo_status ptlgo_release(ptl_limiter* lim, uint64_t permit, uint64_t cost, int with_cost) {
  ptlgo_status s;
  s.rc = with_cost ? ptl_release_cost(lim, permit, cost) : ptl_release(lim, permit);
  s.err = s.rc < 0 ? strdup(ptl_last_error()) : NULL;
  return s;
}

// Registers Go's channel handle; 1 if the callback will notify it, 0 if it completed already.
int ptlgo_arm(ptlgo_acq* a, uintptr_t handle) {
  a->handle = handle;
  int expected = 0;
  return __atomic_compare_exchange_n(&a->phase, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

static int list_item(void* user, const char* name, const ptl_limiter_config* cfg) {
  ptlgoListItem((uintptr_t)user, (char*)name, (ptl_limiter_config*)cfg);
  return 0;
}

int ptlgo_open(const char* uri, ptl_registry** out, char** err) {
  PTLGO_RETURN(ptl_registry_open(uri, out));
}
int ptlgo_register(ptl_registry* reg, const char* name, const ptl_limiter_config* cfg,
                   uint32_t flags, char** err) {
  PTLGO_RETURN(ptl_registry_register(reg, name, cfg, flags));
}
int ptlgo_get(ptl_registry* reg, const char* name, ptl_limiter** out, char** err) {
  PTLGO_RETURN(ptl_registry_get(reg, name, out));
}
int ptlgo_get_or_create(ptl_registry* reg, const char* name, const ptl_limiter_config* cfg,
                        ptl_limiter** out, char** err) {
  PTLGO_RETURN(ptl_registry_get_or_create(reg, name, cfg, out));
}
int ptlgo_exists(ptl_registry* reg, const char* name, char** err) {
  PTLGO_RETURN(ptl_registry_exists(reg, name));
}
int ptlgo_remove(ptl_registry* reg, const char* name, char** err) {
  PTLGO_RETURN(ptl_registry_remove(reg, name));
}
int ptlgo_reset(ptl_registry* reg, char** err) { PTLGO_RETURN(ptl_registry_reset(reg)); }
int ptlgo_list(ptl_registry* reg, uintptr_t handle, char** err) {
  PTLGO_RETURN(ptl_registry_list(reg, list_item, (void*)handle));
}
int ptlgo_registry_stats(ptl_registry* reg, const char* name, ptl_limiter_stats* out, char** err) {
  PTLGO_RETURN(ptl_registry_stats(reg, name, out));
}
int ptlgo_create(const ptl_limiter_config* cfg, ptl_limiter** out, char** err) {
  PTLGO_RETURN(ptl_limiter_create(cfg, out));
}
int ptlgo_stats(ptl_limiter* lim, ptl_limiter_stats* out, char** err) {
  PTLGO_RETURN(ptl_limiter_stats_get(lim, out));
}
int ptlgo_reconfigure(ptl_limiter* lim, const ptl_limiter_config* cfg, char** err) {
  PTLGO_RETURN(ptl_limiter_reconfigure(lim, cfg));
}
int ptlgo_penalize(ptl_limiter* lim, int64_t retry_after_ns, char** err) {
  PTLGO_RETURN(ptl_limiter_penalize(lim, retry_after_ns));
}
int ptlgo_log_set_level(int level, char** err) { PTLGO_RETURN(ptl_log_set_level(level)); }

// ---- policies (0.2) ----------------------------------------------------------------------

#define PTLGO_STACK_ITEMS 16 /* PTL_MAX_LIMITS: more is rare (and refused by the library) */

// The next string of a buffer of NUL-terminated strings.
static const char* next_str(const char** cursor) {
  const char* s = *cursor;
  *cursor = s + strlen(s) + 1;
  return s;
}

// The amounts as ptl_amount: in `stack` if they fit, else malloc'd (NULL: out of memory).
static ptl_amount* amounts_of(const char* units, const uint64_t* amounts, size_t n,
                              ptl_amount* stack) {
  ptl_amount* a = n <= PTLGO_STACK_ITEMS ? stack : malloc(n * sizeof *a);
  if (a == NULL) return NULL;
  const char* cursor = units;
  for (size_t i = 0; i < n; ++i) {
    a[i].unit = next_str(&cursor);
    a[i].amount = amounts[i];
  }
  return a;
}

static ptl_limit* limits_of(const char* units, const uint64_t* maxes, const int64_t* windows,
                            size_t n, ptl_limit* stack) {
  ptl_limit* l = n <= PTLGO_STACK_ITEMS ? stack : malloc(n * sizeof *l);
  if (l == NULL) return NULL;
  const char* cursor = units;
  for (size_t i = 0; i < n; ++i) {
    l[i].unit = next_str(&cursor);
    l[i].max = maxes[i];
    l[i].window_ns = windows[i];
  }
  return l;
}

static ptl_policy policy_of(const ptl_limit* limits, size_t n) {
  ptl_policy p;
  ptl_policy_init(&p);
  p.n_limits = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  p.limits = limits;
  return p;
}

static int no_memory(char** err) {
  if (err != NULL) *err = strdup("out of memory");
  return PTL_ENOMEM;
}

ptlgo_grant ptlgo_acquire_amounts(ptl_limiter* lim, const char* units, const uint64_t* amounts,
                                  size_t n, int64_t timeout_ns) {
  ptl_amount stack[PTLGO_STACK_ITEMS];
  ptl_amount* a = amounts_of(units, amounts, n, stack);
  if (a == NULL) {
    ptlgo_grant g = {0};
    g.rc = no_memory(&g.err);
    return g;
  }
  ptlgo_grant g = start_acquire(lim, 0, 1, a, n, timeout_ns);
  if (a != stack) free(a);
  return g;
}

ptlgo_grant ptlgo_try_acquire_amounts(ptl_limiter* lim, const char* units,
                                      const uint64_t* amounts, size_t n) {
  ptlgo_grant g = {0};
  g.retry_after_ns = -1;
  ptl_amount stack[PTLGO_STACK_ITEMS];
  ptl_amount* a = amounts_of(units, amounts, n, stack);
  if (a == NULL) {
    g.rc = no_memory(&g.err);
    return g;
  }
  g.rc = ptl_try_acquire_amounts(lim, a, n, &g.permit, &g.retry_after_ns);
  if (g.rc < 0) g.err = strdup(ptl_last_error());
  if (a != stack) free(a);
  return g;
}

int ptlgo_settle(ptl_limiter* lim, uint64_t permit, const char* units, const uint64_t* amounts,
                 size_t n, char** err) {
  ptl_amount stack[PTLGO_STACK_ITEMS];
  ptl_amount* a = amounts_of(units, amounts, n, stack);
  if (a == NULL) return no_memory(err);
  int rc = ptl_settle(lim, permit, a, n);
  if (rc < 0 && err != NULL) *err = strdup(ptl_last_error());
  if (a != stack) free(a);
  return rc;
}

// Runs `call` with the policy p built from the Go buffers, then frees what it allocated.
#define PTLGO_WITH_POLICY(call)                                      \
  do {                                                               \
    ptl_limit stack[PTLGO_STACK_ITEMS];                              \
    ptl_limit* l = limits_of(units, maxes, windows, n, stack);       \
    if (l == NULL) return no_memory(err);                            \
    ptl_policy p = policy_of(l, n);                                  \
    int rc = (call);                                                 \
    if (rc < 0 && err != NULL) *err = strdup(ptl_last_error());      \
    if (l != stack) free(l);                                         \
    return rc;                                                       \
  } while (0)

int ptlgo_create_policy(const char* units, const uint64_t* maxes, const int64_t* windows,
                        size_t n, ptl_limiter** out, char** err) {
  PTLGO_WITH_POLICY(ptl_limiter_create_policy(&p, out));
}
int ptlgo_register_policy(ptl_registry* reg, const char* name, const char* units,
                          const uint64_t* maxes, const int64_t* windows, size_t n, uint32_t flags,
                          char** err) {
  PTLGO_WITH_POLICY(ptl_registry_register_policy(reg, name, &p, flags));
}
int ptlgo_get_or_create_policy(ptl_registry* reg, const char* name, const char* units,
                               const uint64_t* maxes, const int64_t* windows, size_t n,
                               ptl_limiter** out, char** err) {
  PTLGO_WITH_POLICY(ptl_registry_get_or_create_policy(reg, name, &p, out));
}
int ptlgo_set_policy(ptl_limiter* lim, const char* units, const uint64_t* maxes,
                     const int64_t* windows, size_t n, char** err) {
  PTLGO_WITH_POLICY(ptl_limiter_set_policy(lim, &p));
}
int ptlgo_get_policy(ptl_limiter* lim, ptl_limit* out, size_t cap, size_t* n, char** err) {
  PTLGO_RETURN(ptl_limiter_get_policy(lim, out, cap, n));
}
int ptlgo_observe(ptl_limiter* lim, const char* unit, uint64_t remaining, int64_t reset_after_ns,
                  char** err) {
  PTLGO_RETURN(ptl_observe(lim, unit, remaining, reset_after_ns));
}

int ptlgo_observe_headers(ptl_limiter* lim, const char* names, const char* values, size_t n,
                          char** err) {
  const char* stack[2 * 32];
  const char** arr = n <= 32 ? stack : malloc(2 * n * sizeof *arr);
  if (arr == NULL) return no_memory(err);
  const char *nc = names, *vc = values;
  for (size_t i = 0; i < n; ++i) {
    arr[i] = next_str(&nc);
    arr[n + i] = next_str(&vc);
  }
  int rc = ptl_observe_headers(lim, n, arr, arr + n);
  if (rc < 0 && err != NULL) *err = strdup(ptl_last_error());
  if (arr != stack) free(arr);
  return rc;
}

int ptlgo_usage(ptl_limiter* lim, const char* unit, int64_t window_ns, ptl_usage* out,
                char** err) {
  PTLGO_RETURN(ptl_limiter_usage(lim, unit, window_ns, out));
}
int ptlgo_preset_policy_get(const char* name, ptl_preset_policy* out, char** err) {
  PTLGO_RETURN(ptl_preset_policy_get(name, out));
}

static int preset_policy_item(void* user, const ptl_preset_policy* p) {
  ptlgoPresetPolicyItem((uintptr_t)user, (ptl_preset_policy*)p);
  return 0;
}
int ptlgo_preset_policy_list(uintptr_t handle, char** err) {
  PTLGO_RETURN(ptl_preset_policy_list(preset_policy_item, (void*)handle));
}
