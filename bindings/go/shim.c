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

ptlgo_grant ptlgo_acquire(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns) {
  ptlgo_grant g = {0};
  ptlgo_acq* a = spare != NULL ? spare : malloc(sizeof *a);
  spare = NULL;
  if (a == NULL) {
    g.rc = PTL_ENOMEM;
    g.err = strdup("out of memory");
    return g;
  }
  a->phase = 0;
  g.rc = ptl_acquire_async(lim, cost, timeout_ns, on_done, a, &g.ticket);
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
