// SPDX-License-Identifier: MIT
/* pocketflow_throttled._speedups: what its files share (private: in the sdist, not
 * installed; ADR 0020). One extension module, built by bindings/python/CMakeLists.txt from
 *
 *   _speedups.c       the module: init() and what it is handed, the interned names,
 *                     PyInit__speedups;
 *   _speedups_core.c  Core: the permits, try_acquire()/release(), __enter__/__exit__, and
 *                     the helpers Step uses (the library calls without the GIL);
 *   _speedups_step.c  Step: the awaitable of __aenter__/__aexit__.
 *
 * Nothing declared here is exported from the shared object (SPEEDUPS_HIDDEN): as when the
 * extension was one file of statics, PyInit__speedups is its only visible symbol, and no
 * symbol of the process (the library's own ptl_try_acquire, ptl_release, ptl_acquire among
 * them) can take the place of these. */
#ifndef POCKETFLOW_THROTTLED_SPEEDUPS_H
#define POCKETFLOW_THROTTLED_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#if PY_VERSION_HEX < 0x030A0000
#error "_speedups needs CPython 3.10 or later (PyIter_Send, am_send); 3.9 uses ctypes"
#endif

#if defined(__GNUC__)
#define SPEEDUPS_HIDDEN __attribute__((visibility("hidden")))
#else
#define SPEEDUPS_HIDDEN
#endif

/* The prototypes of include/pocketflow_throttled/ptl.h (ABI 0.x, stable), with the opaque
 * ptl_limiter* as void* and ptl_permit as uint64_t. */
typedef int (*ptl_try_acquire_t)(void* lim, uint64_t* out, int64_t* retry_after_ns);
typedef int (*ptl_release_t)(void* lim, uint64_t permit);
typedef int (*ptl_acquire_t)(void* lim, int64_t timeout_ns, uint64_t* out);

/* Set by init() and PyInit__speedups (_speedups.c, which says what each holds). */
SPEEDUPS_HIDDEN extern ptl_try_acquire_t ptl_try_acquire;
SPEEDUPS_HIDDEN extern ptl_release_t ptl_release;
SPEEDUPS_HIDDEN extern ptl_acquire_t ptl_acquire;
SPEEDUPS_HIDDEN extern int status_eagain;
SPEEDUPS_HIDDEN extern PyObject* error_fn;
SPEEDUPS_HIDDEN extern PyTypeObject* exact_limiter;
SPEEDUPS_HIDDEN extern PyObject* str_aenter_wait;
SPEEDUPS_HIDDEN extern PyObject* str_try_amounts;
SPEEDUPS_HIDDEN extern PyObject* str_acquire_sync;
SPEEDUPS_HIDDEN extern PyObject* str_release;
SPEEDUPS_HIDDEN extern PyObject* str_throw;
SPEEDUPS_HIDDEN extern PyObject* str_close;
SPEEDUPS_HIDDEN extern PyObject* str_ptr;

/* ---- Core (_speedups_core.c) ------------------------------------------------------ */

#define INLINE_HELD 4

typedef struct {
  PyObject_HEAD
  PyObject* handle; /* the _Handle: one native reference, kept alive here */
  void* lim;        /* handle.ptr */
  uint64_t* held;   /* permits taken through this object, last on top */
  Py_ssize_t n_held, cap;
  uint64_t inline_held[INLINE_HELD];
} Core;

SPEEDUPS_HIDDEN extern PyTypeObject Core_Type;

SPEEDUPS_HIDDEN int not_ready(void);
SPEEDUPS_HIDDEN int n_args(const char* name, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max);
SPEEDUPS_HIDDEN PyObject* raise_status(int status);
SPEEDUPS_HIDDEN int call_try_acquire(Core* self, uint64_t* permit);
SPEEDUPS_HIDDEN int call_release(Core* self, uint64_t permit);
SPEEDUPS_HIDDEN int keep_or_return(Core* self, uint64_t permit);

/* ---- Step (_speedups_step.c) ------------------------------------------------------ */

SPEEDUPS_HIDDEN extern PyTypeObject Step_Type;

/* Core's __aenter__ and __aexit__: each returns a new Step. */
SPEEDUPS_HIDDEN PyObject* Core_aenter(Core* self, PyObject* unused);
SPEEDUPS_HIDDEN PyObject* Core_aexit(Core* self, PyObject* const* args, Py_ssize_t nargs);

#endif /* POCKETFLOW_THROTTLED_SPEEDUPS_H */
