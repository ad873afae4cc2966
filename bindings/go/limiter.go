// SPDX-License-Identifier: MIT

package ptl

// #include "shim.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"
)

// Limiter is a handle to a limiter; every handle of the same registry name is the same
// limiter. It is safe for concurrent use; share the pointer. The handle's reference to the
// native limiter is dropped when the handle is garbage collected (never while a Permit of
// it or an Acquire on it is live), so there is no Close.
type Limiter struct {
	p *C.ptl_limiter
}

func newLimiter(p *C.ptl_limiter) *Limiter {
	l := &Limiter{p: p}
	runtime.AddCleanup(l, func(p *C.ptl_limiter) { C.ptl_limiter_unref(p) }, p)
	return l
}

// NewLimiter creates a private limiter, in no registry.
func NewLimiter(cfg Config) (*Limiter, error) {
	c := cfg.toC()
	var p *C.ptl_limiter
	var e *C.char
	if err := check(C.ptlgo_create(&c, &p, &e), e); err != nil {
		return nil, err
	}
	return newLimiter(p), nil
}

// Acquire waits for a permit of cost 1 until one is granted or ctx ends. Waiters are
// served first come, first served, and waiting blocks neither a thread nor the library.
// When ctx ends first, nothing is held and nothing waits: the error wraps ErrCanceled and
// context.Canceled, or ErrTimeout and context.DeadlineExceeded.
func (l *Limiter) Acquire(ctx context.Context) (*Permit, error) {
	return l.AcquireCost(ctx, 1)
}

// AcquireCost is Acquire for a permit of cost units of MaxCostPerWindow (ErrInvalid above
// it); correct the cost when done with Permit.ReleaseCost.
func (l *Limiter) AcquireCost(ctx context.Context, cost uint64) (*Permit, error) {
	return l.acquire(ctx, func(timeout C.int64_t) C.ptlgo_grant {
		return C.ptlgo_acquire(l.p, C.uint64_t(cost), timeout)
	})
}

// acquire runs start with the library's timeout for ctx, and waits for what it started.
func (l *Limiter) acquire(ctx context.Context, start func(timeout C.int64_t) C.ptlgo_grant) (*Permit, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	timeout := int64(-1) // the library enforces the deadline itself, without a Go timer
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(int64(time.Until(dl)), 0)
	}
	g := start(C.int64_t(timeout))
	runtime.KeepAlive(l)
	switch {
	case g.rc == C.PTLGO_PENDING:
		return l.wait(ctx, g.pending, g.ticket)
	case g.rc == 0:
		return &Permit{lim: l, value: uint64(g.permit)}, nil
	case g.err == nil: // completed inline with a failure: a deadline already due (EAGAIN)
		return nil, l.waitError(ctx, int(g.rc))
	default:
		return nil, check(g.rc, g.err)
	}
}

// wait blocks until the library completes acquire a, or ctx ends and a is cancelled.
func (l *Limiter) wait(ctx context.Context, a *C.ptlgo_acq, ticket C.uint64_t) (*Permit, error) {
	defer C.free(unsafe.Pointer(a)) // the callback has run by then: it never touches a again
	done := make(chan struct{}, 1)
	h := cgo.NewHandle(done)
	defer h.Delete()
	canceled := false
	if C.ptlgo_arm(a, C.uintptr_t(h)) == 1 { // else it completed meanwhile: no notification
		select {
		case <-done:
		case <-ctx.Done():
			canceled = true
			// If still queued, its callback runs (PTL_ECANCELED) before ptl_cancel returns;
			// if it is completing on another thread, the grant arrives and is released below.
			C.ptl_cancel(l.p, ticket)
			<-done
		}
	}
	status, permit := int(a.status), uint64(a.permit)
	runtime.KeepAlive(l)
	if status == StatusOK {
		p := &Permit{lim: l, value: uint64(permit)}
		if !canceled {
			return p, nil
		}
		_ = p.Release() // granted in the race with cancellation: the caller has given up
		return nil, ctxError(ctx.Err())
	}
	if canceled {
		return nil, ctxError(ctx.Err())
	}
	return nil, l.waitError(ctx, status)
}

// waitError words a failure that the library reported through the async callback.
func (l *Limiter) waitError(ctx context.Context, status int) error {
	switch status {
	case StatusTimedOut, StatusWouldBlock: // the deadline given to the library passed
		return &Error{Status: StatusTimedOut, Message: "acquire: the context's deadline passed before a grant",
			RetryAfter: -1, cause: context.DeadlineExceeded}
	case StatusClosed:
		return newError(status, "acquire: the limiter was closed while waiting")
	default:
		return newError(status, "acquire failed")
	}
}

func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: StatusTimedOut, Message: "acquire: " + err.Error(), RetryAfter: -1, cause: err}
	}
	return &Error{Status: StatusCanceled, Message: "acquire: " + err.Error(), RetryAfter: -1, cause: err}
}

// TryAcquire takes a permit only if one is free now and nobody is queued; it never blocks.
// Otherwise the error wraps ErrWouldBlock and, as an *Error, tells RetryAfter: the time
// until the window, cost or a penalty allows a grant, or negative when only a release can.
func (l *Limiter) TryAcquire() (*Permit, error) {
	g := C.ptlgo_try_acquire(l.p)
	runtime.KeepAlive(l)
	if g.rc != 0 {
		err := check(g.rc, g.err).(*Error)
		if g.rc == StatusWouldBlock {
			err.RetryAfter = time.Duration(g.retry_after_ns)
		}
		return nil, err
	}
	return &Permit{lim: l, value: uint64(g.permit)}, nil
}

// Stats returns a snapshot of the limiter's state and counters.
func (l *Limiter) Stats() (Stats, error) {
	s := statsOut()
	var e *C.char
	rc := C.ptlgo_stats(l.p, &s, &e)
	runtime.KeepAlive(l)
	return statsFromC(&s), check(rc, e)
}

// Reconfigure changes the limits in place, for every sharer: permits in flight and the
// window's history still count against the new limits.
func (l *Limiter) Reconfigure(cfg Config) error {
	c := cfg.toC()
	var e *C.char
	rc := C.ptlgo_reconfigure(l.p, &c, &e)
	runtime.KeepAlive(l)
	return check(rc, e)
}

// Penalize says the upstream API answered "retry after": no new permit is granted, to
// anyone sharing the limiter, for retryAfter from now. Permits in flight are unaffected.
func (l *Limiter) Penalize(retryAfter time.Duration) error {
	var e *C.char
	rc := C.ptlgo_penalize(l.p, C.int64_t(retryAfter), &e)
	runtime.KeepAlive(l)
	return check(rc, e)
}

// Permit is a granted permit. Release it exactly once, typically with defer; a second
// Release returns an error wrapping ErrInvalid and changes nothing.
type Permit struct {
	lim      *Limiter
	value    uint64
	released atomic.Bool
}

// Release returns the permit to its limiter.
func (p *Permit) Release() error { return p.release(false, 0) }

// ReleaseCost returns the permit and corrects its cost in the window to actualCost (the
// real token count, known only after the call).
func (p *Permit) ReleaseCost(actualCost uint64) error { return p.release(true, actualCost) }

func (p *Permit) release(withCost bool, cost uint64) error {
	if !p.released.CompareAndSwap(false, true) {
		return newError(StatusInvalid, fmt.Sprintf("permit %d was released already", p.value))
	}
	flag := C.int(0)
	if withCost {
		flag = 1
	}
	s := C.ptlgo_release(p.lim.p, C.uint64_t(p.value), C.uint64_t(cost), flag)
	runtime.KeepAlive(p)
	return check(s.rc, s.err)
}

// Value returns the permit's value: unique in the process, never 0.
func (p *Permit) Value() uint64 { return p.value }
