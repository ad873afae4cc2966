// SPDX-License-Identifier: MIT
/* pocketflow_throttled._speedups: Step, the awaitable of Core.__aenter__ and __aexit__
 * (see _speedups.c and _speedups.h). */
#include "_speedups.h"

/* ---- Step: the awaitable of __aenter__ / __aexit__ ---------------------------------- */

enum { STEP_ENTER, STEP_EXIT };
enum { STEP_FRESH, STEP_WAITING, STEP_DONE };

typedef struct {
  PyObject_HEAD
  Core* owner;
  PyObject* inner; /* RateLimiter._aenter_wait() while delegating to it */
  int kind, state;
} Step;

static PyObject* new_step(Core* owner, int kind) {
  Step* s = PyObject_GC_New(Step, &Step_Type);
  if (s == NULL) return NULL;
  Py_INCREF(owner);
  s->owner = owner;
  s->inner = NULL;
  s->kind = kind;
  s->state = STEP_FRESH;
  PyObject_GC_Track(s);
  return (PyObject*)s;
}

PyObject* Core_aenter(Core* self, PyObject* Py_UNUSED(unused)) {
  return new_step(self, STEP_ENTER);
}

PyObject* Core_aexit(Core* self, PyObject* const* Py_UNUSED(args), Py_ssize_t nargs) {
  if (!n_args("__aexit__", nargs, 3, 3)) return NULL;
  return new_step(self, STEP_EXIT);
}

/* Finished (returned, raised or closed): drops its references, as a coroutine drops its
 * frame. */
static void step_finish(Step* s) {
  s->state = STEP_DONE;
  Py_CLEAR(s->inner);
  Py_CLEAR(s->owner);
}

static PySendResult step_delegate(Step* s, PyObject* arg, PyObject** result) {
  PySendResult r = PyIter_Send(s->inner, arg, result);
  if (r != PYGEN_NEXT) step_finish(s);
  return r;
}

static PySendResult step_first(Step* s, PyObject** result) {
  Core* owner = s->owner;
  uint64_t permit = 0;
  int rc;
  *result = NULL;
  if (not_ready()) goto error;
  if (s->kind == STEP_EXIT) {
    if (owner->n_held == 0) {
      PyErr_SetString(PyExc_IndexError, "pop from an empty deque");
      goto error;
    }
    rc = call_release(owner, owner->held[--owner->n_held]);
    if (rc != 0) {
      raise_status(rc);
      goto error;
    }
    step_finish(s);
    Py_INCREF(Py_None);
    *result = Py_None;
    return PYGEN_RETURN;
  }
  rc = call_try_acquire(owner, &permit);
  if (rc == 0) { /* the uncontended path: done, no suspension */
    if (keep_or_return(owner, permit) < 0) goto error;
    Py_INCREF(owner);
    *result = (PyObject*)owner;
    step_finish(s);
    return PYGEN_RETURN;
  }
  /* Wait (or an error the waiting path reports): the Python path, as `await` would. */
  s->inner = PyObject_CallMethodNoArgs((PyObject*)owner, str_aenter_wait);
  if (s->inner == NULL) goto error;
  s->state = STEP_WAITING;
  return step_delegate(s, Py_None, result);
error:
  step_finish(s);
  return PYGEN_ERROR;
}

static PySendResult Step_am_send(Step* s, PyObject* arg, PyObject** result) {
  switch (s->state) {
    case STEP_FRESH:
      if (arg != Py_None) {
        PyErr_SetString(PyExc_TypeError, "can't send non-None value to a just-started coroutine");
        *result = NULL;
        return PYGEN_ERROR;
      }
      return step_first(s, result);
    case STEP_WAITING:
      return step_delegate(s, arg, result);
    default:
      PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
      *result = NULL;
      return PYGEN_ERROR;
  }
}

/* StopIteration(value), also when value is a tuple or an exception. */
static void set_stop_iteration(PyObject* value) {
  PyObject* exc = PyObject_CallOneArg(PyExc_StopIteration, value);
  if (exc != NULL) {
    PyErr_SetObject(PyExc_StopIteration, exc);
    Py_DECREF(exc);
  }
}

/* __next__: how Python 3.12+ (and 3.10, 3.11 under a tracer) resume an awaited iterator. */
static PyObject* Step_iternext(Step* s) {
  PyObject* result;
  PySendResult r = Step_am_send(s, Py_None, &result);
  if (r == PYGEN_NEXT) return result;
  if (r == PYGEN_RETURN) {
    if (result != Py_None) set_stop_iteration(result); /* None: NULL with no error */
    Py_DECREF(result);
  }
  return NULL;
}

static PyObject* Step_send(Step* s, PyObject* arg) {
  PyObject* result;
  PySendResult r = Step_am_send(s, arg, &result);
  if (r == PYGEN_NEXT) return result;
  if (r == PYGEN_RETURN) {
    set_stop_iteration(result);
    Py_DECREF(result);
  }
  return NULL;
}

static PyObject* Step_throw(Step* s, PyObject* const* args, Py_ssize_t nargs) {
  if (!n_args("throw", nargs, 1, 3)) return NULL;
  if (s->state == STEP_WAITING) { /* the waiting path handles it (cancellation) */
    PyObject* stack[4] = {s->inner, args[0], nargs > 1 ? args[1] : NULL,
                          nargs > 2 ? args[2] : NULL};
    PyObject* r = PyObject_VectorcallMethod(str_throw, stack, (size_t)(nargs + 1), NULL);
    if (r == NULL) step_finish(s);
    return r;
  }
  /* Not started or finished: raised here, as a coroutine that never ran would. */
  step_finish(s);
  PyObject *typ = args[0], *val = nargs > 1 ? args[1] : Py_None;
  if (PyExceptionInstance_Check(typ)) {
    if (val != Py_None) {
      PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
      return NULL;
    }
    PyErr_SetObject((PyObject*)Py_TYPE(typ), typ);
  } else if (PyExceptionClass_Check(typ)) {
    PyErr_SetObject(typ, val);
  } else {
    PyErr_Format(PyExc_TypeError,
                 "exceptions must be classes or instances deriving from BaseException, not %s",
                 Py_TYPE(typ)->tp_name);
  }
  return NULL;
}

static PyObject* Step_close(Step* s, PyObject* Py_UNUSED(unused)) {
  PyObject* inner = s->inner;
  PyObject* r;
  s->inner = NULL;
  step_finish(s);
  if (inner == NULL) Py_RETURN_NONE;
  r = PyObject_CallMethodNoArgs(inner, str_close);
  Py_DECREF(inner);
  return r;
}

static PyObject* Step_await(PyObject* s) {
  Py_INCREF(s);
  return s;
}

static int Step_traverse(Step* s, visitproc visit, void* arg) {
  Py_VISIT(s->owner);
  Py_VISIT(s->inner);
  return 0;
}

static int Step_clear(Step* s) {
  Py_CLEAR(s->owner);
  Py_CLEAR(s->inner);
  return 0;
}

static void Step_dealloc(Step* s) {
  PyObject_GC_UnTrack(s);
  Py_CLEAR(s->owner);
  Py_CLEAR(s->inner); /* a waiting coroutine dropped: its own finalizer cleans up */
  PyObject_GC_Del(s);
}

static PyMethodDef Step_methods[] = {
    {"send", (PyCFunction)Step_send, METH_O, "Resumes the acquire or release."},
    {"throw", (PyCFunction)(void (*)(void))Step_throw, METH_FASTCALL,
     "Raises inside the wait (cancellation)."},
    {"close", (PyCFunction)Step_close, METH_NOARGS, "Abandons the wait."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods Step_async = {
    .am_await = Step_await,
    .am_send = (sendfunc)Step_am_send,
};

PyTypeObject Step_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pocketflow_throttled._speedups.Step",
    .tp_basicsize = sizeof(Step),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RateLimiter.__aenter__() / __aexit__(): done at the first resume unless it waits.",
    .tp_dealloc = (destructor)Step_dealloc,
    .tp_traverse = (traverseproc)Step_traverse,
    .tp_clear = (inquiry)Step_clear,
    .tp_as_async = &Step_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Step_iternext,
    .tp_methods = Step_methods,
};
