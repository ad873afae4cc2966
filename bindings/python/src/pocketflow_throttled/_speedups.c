// SPDX-License-Identifier: MIT
/* pocketflow_throttled._speedups: RateLimiter's hot path in C (ADR 0020).
 *
 * Optional: built at `pip install` time when a C compiler and the Python headers exist;
 * without it the package runs the same code in Python over ctypes (rate_limiter._PyCore),
 * as it does when PTL_PY_PURE=1. Nothing of libpocketflow_throttled is needed to build it:
 * _native.py loads the library with ctypes and hands the addresses of the three functions
 * used here to init(), with the status constants and the Python function that turns a
 * status into the package's exception.
 *
 * Core is RateLimiter's base class: the native limiter (its _Handle) and the permits taken
 * through the object (a LIFO stack: cost-1 permits of one limiter are interchangeable),
 * and the methods every use runs: try_acquire(), release(), __enter__/__exit__ and
 * __aenter__/__aexit__. The latter return a Step, an awaitable that does its work when it
 * is first resumed (as a coroutine would: nothing happens before the await) and finishes
 * at once, with no coroutine and no event-loop round trip. When try_acquire says wait,
 * the Step delegates to RateLimiter._aenter_wait() (the Python waiting path of
 * _waiting.py: cancellation, timeouts, the callbacks), as `await` would.
 *
 * The GIL is released around every library call, as ctypes does: a call may block (shm://
 * locks, redis:// round trips, ptl_acquire's wait) and may run acquire callbacks that take
 * the GIL.
 *
 * The code is in three files sharing _speedups.h: this one (the module, init()),
 * _speedups_core.c (Core) and _speedups_step.c (Step). */
#include "_speedups.h"

ptl_try_acquire_t ptl_try_acquire;
ptl_release_t ptl_release;
ptl_acquire_t ptl_acquire;
int status_eagain;           /* PTL_EAGAIN */
PyObject* error_fn;          /* _native.error(status) -> the exception to raise */
PyTypeObject* exact_limiter; /* RateLimiter itself (not a user subclass) */
PyObject* str_aenter_wait;   /* "_aenter_wait" */
PyObject* str_try_amounts;   /* "_try_acquire_amounts" */
PyObject* str_acquire_sync;  /* "acquire_sync" */
PyObject* str_release;       /* "release" */
PyObject* str_throw;
PyObject* str_close;
PyObject* str_ptr;

/* ---- module ------------------------------------------------------------------------- */

static void* address(PyObject* v, const char* what) {
  void* p = PyLong_AsVoidPtr(v);
  if (p == NULL && !PyErr_Occurred())
    PyErr_Format(PyExc_ValueError, "init(): %s is a null address", what);
  return p;
}

static PyObject* mod_init(PyObject* Py_UNUSED(mod), PyObject* args, PyObject* kwargs) {
  static char* kw[] = {"try_acquire", "release", "acquire", "eagain", "error", "limiter_class",
                       NULL};
  PyObject *a_try, *a_rel, *a_acq, *err, *cls;
  int eagain;
  void *p_try, *p_rel, *p_acq;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$OOOiOO:init", kw, &a_try, &a_rel, &a_acq,
                                   &eagain, &err, &cls))
    return NULL;
  if (!PyCallable_Check(err)) {
    PyErr_SetString(PyExc_TypeError, "init(): error must be callable");
    return NULL;
  }
  if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject*)cls, &Core_Type)) {
    PyErr_SetString(PyExc_TypeError, "init(): limiter_class must be a subclass of Core");
    return NULL;
  }
  if ((p_try = address(a_try, "try_acquire")) == NULL) return NULL;
  if ((p_rel = address(a_rel, "release")) == NULL) return NULL;
  if ((p_acq = address(a_acq, "acquire")) == NULL) return NULL;
  ptl_try_acquire = (ptl_try_acquire_t)p_try;
  ptl_release = (ptl_release_t)p_rel;
  ptl_acquire = (ptl_acquire_t)p_acq;
  status_eagain = eagain;
  Py_INCREF(err);
  Py_XSETREF(error_fn, err);
  Py_INCREF(cls);
  Py_XSETREF(exact_limiter, (PyTypeObject*)cls);
  Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"init", (PyCFunction)(void (*)(void))mod_init, METH_VARARGS | METH_KEYWORDS,
     "init(*, try_acquire, release, acquire, eagain, error, limiter_class)\n--\n\n"
     "The addresses of ptl_try_acquire, ptl_release and ptl_acquire (ints), PTL_EAGAIN,\n"
     "the function turning a status into an exception, and the RateLimiter class."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pocketflow_throttled._speedups",
    .m_doc = "RateLimiter's hot path in C (optional; see rate_limiter._PyCore).",
    .m_size = -1,
    .m_methods = mod_methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
  static const char* names[] = {"_aenter_wait", "_try_acquire_amounts", "acquire_sync",
                                "release", "throw", "close", "ptr"};
  PyObject** slots[] = {&str_aenter_wait, &str_try_amounts, &str_acquire_sync, &str_release,
                        &str_throw, &str_close, &str_ptr};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (*slots[i] == NULL && (*slots[i] = PyUnicode_InternFromString(names[i])) == NULL)
      return NULL;
  }
  if (PyType_Ready(&Core_Type) < 0 || PyType_Ready(&Step_Type) < 0) return NULL;
  PyObject* m = PyModule_Create(&module);
  if (m == NULL) return NULL;
  Py_INCREF(&Core_Type);
  if (PyModule_AddObject(m, "Core", (PyObject*)&Core_Type) < 0) {
    Py_DECREF(&Core_Type);
    Py_DECREF(m);
    return NULL;
  }
  Py_INCREF(&Step_Type);
  if (PyModule_AddObject(m, "Step", (PyObject*)&Step_Type) < 0) {
    Py_DECREF(&Step_Type);
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
