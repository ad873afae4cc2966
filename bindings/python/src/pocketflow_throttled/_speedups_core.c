// SPDX-License-Identifier: MIT
/* pocketflow_throttled._speedups: Core, RateLimiter's base class (see _speedups.c and
 * _speedups.h). */
#include "_speedups.h"

#include <string.h>

/* ---- Core ------------------------------------------------------------------------- */

int not_ready(void) {
  if (ptl_try_acquire != NULL) return 0;
  PyErr_SetString(PyExc_RuntimeError, "pocketflow_throttled._speedups: init() was not called");
  return 1;
}

/* 1 when min <= nargs <= max, else TypeError and 0. */
int n_args(const char* name, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max) {
  if (nargs >= min && nargs <= max) return 1;
  if (min == max)
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, min, nargs);
  else
    PyErr_Format(PyExc_TypeError, "%s() takes from %zd to %zd arguments (%zd given)", name, min,
                 max, nargs);
  return 0;
}

/* Raises _native.error(status). Always returns NULL. */
PyObject* raise_status(int status) {
  PyObject* exc = PyObject_CallFunction(error_fn, "i", status);
  if (exc != NULL) {
    PyErr_SetObject((PyObject*)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}

static int push_permit(Core* self, uint64_t permit) {
  if (self->held == NULL) {
    self->held = self->inline_held;
    self->cap = INLINE_HELD;
  }
  if (self->n_held == self->cap) {
    Py_ssize_t cap = self->cap * 2;
    uint64_t* mem;
    if (self->held == self->inline_held) {
      mem = PyMem_Malloc((size_t)cap * sizeof(uint64_t));
      if (mem != NULL) memcpy(mem, self->inline_held, sizeof(self->inline_held));
    } else {
      mem = PyMem_Realloc(self->held, (size_t)cap * sizeof(uint64_t));
    }
    if (mem == NULL) {
      PyErr_NoMemory();
      return -1;
    }
    self->held = mem;
    self->cap = cap;
  }
  self->held[self->n_held++] = permit;
  return 0;
}

/* One native call without the GIL, the _Handle kept alive across it (a concurrent
 * reset() may replace it meanwhile). */
int call_try_acquire(Core* self, uint64_t* permit) {
  PyObject* handle = self->handle;
  void* lim = self->lim;
  int rc;
  Py_XINCREF(handle);
  Py_BEGIN_ALLOW_THREADS
  rc = ptl_try_acquire(lim, permit, NULL);
  Py_END_ALLOW_THREADS
  Py_XDECREF(handle);
  return rc;
}

int call_release(Core* self, uint64_t permit) {
  PyObject* handle = self->handle;
  void* lim = self->lim;
  int rc;
  Py_XINCREF(handle);
  Py_BEGIN_ALLOW_THREADS
  rc = ptl_release(lim, permit);
  Py_END_ALLOW_THREADS
  Py_XDECREF(handle);
  return rc;
}

/* A permit that could not be recorded (no memory) goes back at once: never lost. */
int keep_or_return(Core* self, uint64_t permit) {
  if (push_permit(self, permit) == 0) return 0;
  (void)call_release(self, permit);
  return -1;
}

static int Core_traverse(Core* self, visitproc visit, void* arg) {
  Py_VISIT(self->handle);
  return 0;
}

static int Core_clear(Core* self) {
  Py_CLEAR(self->handle);
  return 0;
}

static void Core_dealloc(Core* self) {
  PyObject_GC_UnTrack(self);
  Py_CLEAR(self->handle);
  if (self->held != NULL && self->held != self->inline_held) PyMem_Free(self->held);
  self->held = NULL;
  Py_TYPE(self)->tp_free((PyObject*)self);
}

static PyObject* Core_set_handle(Core* self, PyObject* handle) {
  PyObject* ptr = PyObject_GetAttr(handle, str_ptr);
  void* lim = NULL;
  if (ptr == NULL) return NULL;
  if (ptr != Py_None) lim = PyLong_AsVoidPtr(ptr);
  Py_DECREF(ptr);
  if (lim == NULL && PyErr_Occurred()) return NULL;
  Py_INCREF(handle);
  Py_XSETREF(self->handle, handle);
  self->lim = lim;
  Py_RETURN_NONE;
}

static PyObject* Core_get_handle(Core* self, void* Py_UNUSED(closure)) {
  if (self->handle == NULL) {
    PyErr_SetString(PyExc_AttributeError, "_handle");
    return NULL;
  }
  Py_INCREF(self->handle);
  return self->handle;
}

static PyObject* Core_push(Core* self, PyObject* permit) {
  unsigned long long v = PyLong_AsUnsignedLongLong(permit);
  if (v == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  if (push_permit(self, (uint64_t)v) < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject* Core_n_held(Core* self, PyObject* Py_UNUSED(unused)) {
  return PyLong_FromSsize_t(self->n_held);
}

static PyObject* release_one(Core* self) {
  if (self->n_held == 0) {
    PyErr_SetString(PyExc_RuntimeError, "release() without a matching acquire() on this limiter");
    return NULL;
  }
  int rc = call_release(self, self->held[--self->n_held]);
  if (rc < 0) return raise_status(rc);
  Py_RETURN_NONE;
}

static PyObject* Core_release(Core* self, PyObject* Py_UNUSED(unused)) {
  if (not_ready()) return NULL;
  return release_one(self);
}

static PyObject* Core_try_acquire(Core* self, PyObject* const* args, Py_ssize_t nargsf,
                                  PyObject* kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs != 0 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
    /* Amounts (or a wrong call): RateLimiter._try_acquire_amounts(**amounts). */
    PyObject* small[8];
    PyObject** stack = small;
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject* res;
    if (total + 1 > 8) {
      stack = PyMem_Malloc((size_t)(total + 1) * sizeof(PyObject*));
      if (stack == NULL) return PyErr_NoMemory();
    }
    stack[0] = (PyObject*)self;
    memcpy(stack + 1, args, (size_t)total * sizeof(PyObject*));
    res = PyObject_VectorcallMethod(str_try_amounts, stack, (size_t)(nargs + 1), kwnames);
    if (stack != small) PyMem_Free(stack);
    return res;
  }
  if (not_ready()) return NULL;
  uint64_t permit = 0;
  int rc = call_try_acquire(self, &permit);
  if (rc == status_eagain) Py_RETURN_FALSE;
  if (rc < 0) return raise_status(rc);
  if (keep_or_return(self, permit) < 0) return NULL;
  Py_RETURN_TRUE;
}

static PyObject* Core_enter(Core* self, PyObject* Py_UNUSED(unused)) {
  if (Py_TYPE(self) != exact_limiter) { /* a subclass may have its own acquire_sync() */
    PyObject* r = PyObject_CallMethodNoArgs((PyObject*)self, str_acquire_sync);
    if (r == NULL) return NULL;
    Py_DECREF(r);
    Py_INCREF(self);
    return (PyObject*)self;
  }
  if (not_ready()) return NULL;
  PyObject* handle = self->handle;
  void* lim = self->lim;
  uint64_t permit = 0;
  int rc;
  Py_XINCREF(handle);
  Py_BEGIN_ALLOW_THREADS
  rc = ptl_acquire(lim, -1, &permit); /* blocks this thread only */
  Py_END_ALLOW_THREADS
  Py_XDECREF(handle);
  if (rc < 0) return raise_status(rc);
  if (keep_or_return(self, permit) < 0) return NULL;
  Py_INCREF(self);
  return (PyObject*)self;
}

static PyObject* Core_exit(Core* self, PyObject* const* Py_UNUSED(args), Py_ssize_t nargs) {
  if (!n_args("__exit__", nargs, 3, 3)) return NULL;
  if (Py_TYPE(self) != exact_limiter) { /* a subclass may have its own release() */
    PyObject* r = PyObject_CallMethodNoArgs((PyObject*)self, str_release);
    if (r == NULL) return NULL;
    Py_DECREF(r); /* what it returns must not reach `with` (true would swallow errors) */
    Py_RETURN_NONE;
  }
  if (not_ready()) return NULL;
  return release_one(self);
}

/* ---- Core's type -------------------------------------------------------------------- */

static PyMethodDef Core_methods[] = {
    {"_set_handle", (PyCFunction)Core_set_handle, METH_O,
     "Uses this _Handle's native limiter from now on."},
    {"_push", (PyCFunction)Core_push, METH_O, "Records a permit taken through this object."},
    {"_n_held", (PyCFunction)Core_n_held, METH_NOARGS,
     "The number of permits taken through this object and not released."},
    {"try_acquire", (PyCFunction)(void (*)(void))Core_try_acquire,
     METH_FASTCALL | METH_KEYWORDS,
     "try_acquire(**amounts)\n--\n\n"
     "Takes a permit only if one is free now and nobody is queued; never waits.\n\n"
     "Without amounts: True (release() gives it back) or False, as the original's. With\n"
     "amounts (units as keywords): a Permit, or None when there is no room now."},
    {"release", (PyCFunction)Core_release, METH_NOARGS,
     "Returns one permit taken by acquire(), acquire_sync() or try_acquire()."},
    {"__enter__", (PyCFunction)Core_enter, METH_NOARGS,
     "Blocks this thread (not the GIL) until a permit is granted."},
    {"__exit__", (PyCFunction)(void (*)(void))Core_exit, METH_FASTCALL, "Releases the permit."},
    {"__aenter__", (PyCFunction)Core_aenter, METH_NOARGS,
     "Awaitable: a permit, waiting without blocking the event loop."},
    {"__aexit__", (PyCFunction)(void (*)(void))Core_aexit, METH_FASTCALL,
     "Awaitable: releases the permit."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Core_getset[] = {
    {"_handle", (getter)Core_get_handle, NULL, "The _Handle of the native limiter.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Core_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pocketflow_throttled._speedups.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RateLimiter's base: the native limiter and the permits taken through it.",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_traverse = (traverseproc)Core_traverse,
    .tp_clear = (inquiry)Core_clear,
    .tp_methods = Core_methods,
    .tp_getset = Core_getset,
};
