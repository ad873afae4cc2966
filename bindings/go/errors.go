// SPDX-License-Identifier: MIT

package ptl

import (
	"errors"
	"fmt"
	"time"
)

// Status codes of the C ABI (PTL_OK and the PTL_E* codes).
const (
	StatusOK          = 0
	StatusInvalid     = -1
	StatusNotFound    = -2
	StatusExists      = -3
	StatusTimedOut    = -4
	StatusWouldBlock  = -5
	StatusCanceled    = -6
	StatusBackend     = -7
	StatusClosed      = -8
	StatusNoMemory    = -9
	StatusRateLimited = -10
	StatusItems       = -11
	StatusInternal    = -99
)

// Sentinel errors, one per status: test with errors.Is(err, ptl.ErrTimeout). Every error
// this package returns is an *Error that wraps exactly one of them.
var (
	ErrInvalid     = errors.New("ptl: invalid argument or config")     // PTL_EINVAL
	ErrNotFound    = errors.New("ptl: no such limiter")                // PTL_ENOTFOUND
	ErrExists      = errors.New("ptl: limiter exists already")         // PTL_EEXIST
	ErrTimeout     = errors.New("ptl: timed out before a grant")       // PTL_ETIMEDOUT
	ErrWouldBlock  = errors.New("ptl: no capacity now")                // PTL_EAGAIN
	ErrCanceled    = errors.New("ptl: acquire canceled")               // PTL_ECANCELED
	ErrBackend     = errors.New("ptl: shared-memory or Redis failure") // PTL_EBACKEND
	ErrClosed      = errors.New("ptl: limiter or registry closed")     // PTL_ECLOSED
	ErrNoMemory    = errors.New("ptl: out of memory")                  // PTL_ENOMEM
	ErrRateLimited = errors.New("ptl: upstream rate limit hit")        // PTL_ERATELIMITED
	ErrItems       = errors.New("ptl: some batch items failed")        // PTL_EITEMS
	ErrInternal    = errors.New("ptl: internal error in the library")  // PTL_EINTERNAL
	errUnknown     = errors.New("ptl: unknown status")
)

var sentinels = map[int]error{
	StatusInvalid: ErrInvalid, StatusNotFound: ErrNotFound, StatusExists: ErrExists,
	StatusTimedOut: ErrTimeout, StatusWouldBlock: ErrWouldBlock, StatusCanceled: ErrCanceled,
	StatusBackend: ErrBackend, StatusClosed: ErrClosed, StatusNoMemory: ErrNoMemory,
	StatusRateLimited: ErrRateLimited, StatusItems: ErrItems, StatusInternal: ErrInternal,
}

// Error is a failed call: the status, the library's message naming the problem, and for
// Acquire, the context's error when the context ended the wait.
type Error struct {
	Status  int    // a Status* code
	Message string // what exactly was wrong, as ptl_last_error() said
	// RetryAfter, for ErrWouldBlock from TryAcquire: how long until the window, cost or a
	// penalty allows a grant; negative when only a release can free capacity.
	RetryAfter time.Duration
	cause      error // context.Canceled or context.DeadlineExceeded, or nil
}

// Error returns "PTL_ENAME: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return StatusName(e.Status)
	}
	return fmt.Sprintf("%s: %s", StatusName(e.Status), e.Message)
}

// Unwrap gives the status's sentinel and, for a wait ended by its context, the context's
// error: errors.Is(err, ptl.ErrTimeout) and errors.Is(err, context.DeadlineExceeded) both hold.
func (e *Error) Unwrap() []error {
	s, ok := sentinels[e.Status]
	if !ok {
		s = errUnknown
	}
	if e.cause != nil {
		return []error{s, e.cause}
	}
	return []error{s}
}

func newError(status int, msg string) *Error {
	return &Error{Status: status, Message: msg, RetryAfter: -1}
}
