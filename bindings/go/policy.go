// SPDX-License-Identifier: MIT

package ptl

// #include "shim.h"
import "C"

import (
	"context"
	"math"
	"net/http"
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"
)

// Limit is one limit of a policy: at most Max units of Unit granted in any interval of
// Window (a strict sliding window), or, with Window 0, at most Max units held at once (a
// concurrency limit: a permit holds its amount until released).
type Limit struct {
	Unit   string        // "requests", "tokens", "input_tokens", "output_tokens", or 1..32 bytes of [a-z0-9_]
	Max    uint64        // at most this many units (>= 1) ...
	Window time.Duration // ... in any window of this length; 0: held at once
}

// Held reports whether l is a held (concurrency) limit rather than a window.
func (l Limit) Held() bool { return l.Window == 0 }

// Amount is what an acquire asks of one unit, or what a settle says was used.
type Amount struct {
	Unit   string
	Amount uint64
}

// Usage is the state of one limit, as Limiter.Usage reports it.
type Usage struct {
	Max    uint64
	Window time.Duration // 0 for a held limit
	Used   uint64        // granted in the window ending now, or held now for a held limit
	// ObservedCap is what the provider says is left (Observe, ObserveHeaders), or NoCap
	// when no observation is in force.
	ObservedCap uint64
	// NextRoom is how long until one more unit fits: 0 fits now; negative when only a
	// release can make room.
	NextRoom time.Duration
}

// NoCap is Usage.ObservedCap when no observation is in force.
const NoCap = math.MaxUint64

// ProviderPolicy is a policy the library ships: the limits a provider publishes for an
// account tier and model. The numbers change: check your account's limits page, and feed
// responses to Limiter.ObserveHeaders.
type ProviderPolicy struct {
	Name        string // "openai_tier1_gpt_4o": <provider>_<tier>_<model>
	Description string
	SourceDate  string // YYYY-MM-DD: when the provider's table was read
	Source      string // URLs, space-separated
	Limits      []Limit
}

// packed is a list of strings as the C shim takes them: NUL-terminated, back to back, in
// Go memory that holds no pointers.
type packed []byte

func (p packed) ptr() *C.char {
	if len(p) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&p[0]))
}

// pack appends s NUL-terminated; a NUL inside s would cut it short, so it is refused.
func pack(buf packed, what, s string) (packed, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, newError(StatusInvalid, what+" "+quote(s)+" contains a NUL byte")
		}
	}
	buf = append(buf, s...)
	return append(buf, 0), nil
}

func ptrOf[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

type cAmounts struct {
	units   packed
	amounts []C.uint64_t
}

func packAmounts(amounts []Amount) (cAmounts, error) {
	c := cAmounts{amounts: make([]C.uint64_t, len(amounts))}
	var err error
	for i, a := range amounts {
		if c.units, err = pack(c.units, "unit", a.Unit); err != nil {
			return c, err
		}
		c.amounts[i] = C.uint64_t(a.Amount)
	}
	return c, nil
}

type cPolicy struct {
	units   packed
	maxes   []C.uint64_t
	windows []C.int64_t
}

func packPolicy(limits []Limit) (cPolicy, error) {
	c := cPolicy{maxes: make([]C.uint64_t, len(limits)), windows: make([]C.int64_t, len(limits))}
	var err error
	for i, l := range limits {
		if c.units, err = pack(c.units, "unit", l.Unit); err != nil {
			return c, err
		}
		c.maxes[i] = C.uint64_t(l.Max)
		c.windows[i] = C.int64_t(l.Window)
	}
	return c, nil
}

func (c *cPolicy) n() C.size_t { return C.size_t(len(c.maxes)) }

// NewLimiterPolicy creates a private limiter (in no registry) of a policy: its limits are
// admitted together, so a grant takes room in every one of them or waits, holding nothing.
func NewLimiterPolicy(limits []Limit) (*Limiter, error) {
	c, err := packPolicy(limits)
	if err != nil {
		return nil, err
	}
	var p *C.ptl_limiter
	var e *C.char
	rc := C.ptlgo_create_policy(c.units.ptr(), ptrOf(c.maxes), ptrOf(c.windows), c.n(), &p, &e)
	if err := check(rc, e); err != nil {
		return nil, err
	}
	return newLimiter(p), nil
}

// RegisterPolicy registers limiter name with a policy; ErrExists if it exists already,
// unless replace: then its policy changes live, as Limiter.SetPolicy.
func (r *Registry) RegisterPolicy(name string, limits []Limit, replace bool) error {
	c, err := packPolicy(limits)
	if err != nil {
		return err
	}
	flags := C.uint32_t(0)
	if replace {
		flags = C.PTL_REPLACE
	}
	return r.with(name, func(n *C.char, e **C.char) C.int {
		return C.ptlgo_register_policy(r.p, n, c.units.ptr(), ptrOf(c.maxes), ptrOf(c.windows), c.n(), flags, e)
	})
}

// GetOrCreatePolicy is Get, registering name with the policy first if it does not exist,
// in one atomic step (the policy is ignored for an existing limiter).
func (r *Registry) GetOrCreatePolicy(name string, limits []Limit) (*Limiter, error) {
	c, err := packPolicy(limits)
	if err != nil {
		return nil, err
	}
	var p *C.ptl_limiter
	err = r.with(name, func(n *C.char, e **C.char) C.int {
		return C.ptlgo_get_or_create_policy(r.p, n, c.units.ptr(), ptrOf(c.maxes), ptrOf(c.windows), c.n(), &p, e)
	})
	if err != nil {
		return nil, err
	}
	return newLimiter(p), nil
}

// SetPolicy changes the policy live, for every sharer: a limit that stays (same unit and
// window, or the one window of its unit with a new length) keeps its history and what is
// held; a waiter that can no longer fit a limit's max fails with ErrInvalid.
func (l *Limiter) SetPolicy(limits []Limit) error {
	c, err := packPolicy(limits)
	if err != nil {
		return err
	}
	var e *C.char
	rc := C.ptlgo_set_policy(l.p, c.units.ptr(), ptrOf(c.maxes), ptrOf(c.windows), c.n(), &e)
	runtime.KeepAlive(l)
	return check(rc, e)
}

// Policy returns the limits in force (a limiter made from a Config has up to three:
// requests held, requests per window, tokens per window).
func (l *Limiter) Policy() ([]Limit, error) {
	buf := make([]C.ptl_limit, 16) // PTL_MAX_LIMITS
	for {
		var n C.size_t
		var e *C.char
		rc := C.ptlgo_get_policy(l.p, &buf[0], C.size_t(len(buf)), &n, &e)
		runtime.KeepAlive(l)
		if err := check(rc, e); err != nil {
			return nil, err
		}
		if int(n) <= len(buf) {
			out := make([]Limit, n)
			for i := range out {
				out[i] = limitFromC(&buf[i])
			}
			return out, nil
		}
		buf = make([]C.ptl_limit, n) // grew meanwhile: ask again
	}
}

func limitFromC(l *C.ptl_limit) Limit {
	return Limit{Unit: C.GoString(l.unit), Max: uint64(l.max), Window: time.Duration(l.window_ns)}
}

// AcquireAmounts is Acquire for a permit of these amounts, taken from every limit of the
// policy together. "requests" counts 1 unless given; a unit left out counts 0. A unit the
// policy lacks, a unit given twice or an amount above a limit's max is ErrInvalid. Correct
// the estimates when the real usage is known with Permit.Settle.
//
//	permit, err := lim.AcquireAmounts(ctx, ptl.Amount{Unit: "tokens", Amount: estimate})
func (l *Limiter) AcquireAmounts(ctx context.Context, amounts ...Amount) (*Permit, error) {
	c, err := packAmounts(amounts)
	if err != nil {
		return nil, err
	}
	return l.acquire(ctx, func(timeout C.int64_t) C.ptlgo_grant {
		// The library copies the amounts before this returns.
		return C.ptlgo_acquire_amounts(l.p, c.units.ptr(), ptrOf(c.amounts), C.size_t(len(c.amounts)), timeout)
	})
}

// TryAcquireAmounts is TryAcquire for a permit of these amounts: only if every limit has
// room now and nobody is queued. Otherwise the error wraps ErrWouldBlock and tells
// RetryAfter.
func (l *Limiter) TryAcquireAmounts(amounts ...Amount) (*Permit, error) {
	c, err := packAmounts(amounts)
	if err != nil {
		return nil, err
	}
	g := C.ptlgo_try_acquire_amounts(l.p, c.units.ptr(), ptrOf(c.amounts), C.size_t(len(c.amounts)))
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

// Settle replaces the estimate of each named unit with the real usage, known after the
// call, in every limit of that unit from the grant's time. Less frees room at once; more is
// allowed (later grants wait until the windows are back under their max). Each unit may be
// settled once (ErrInvalid the second time), before or after Release.
func (p *Permit) Settle(actual ...Amount) error {
	c, err := packAmounts(actual)
	if err != nil {
		return err
	}
	var e *C.char
	rc := C.ptlgo_settle(p.lim.p, C.uint64_t(p.value), c.units.ptr(), ptrOf(c.amounts), C.size_t(len(c.amounts)), &e)
	runtime.KeepAlive(p)
	return check(rc, e)
}

// Observe applies the provider's own count, for usage this process cannot see (other users
// of the key, other tools): at most remaining more units of unit until resetAfter from now.
// Shared by every sharer; it only tightens, never loosens. A unit the policy lacks is
// ErrInvalid.
func (l *Limiter) Observe(unit string, remaining uint64, resetAfter time.Duration) error {
	u, err := pack(nil, "unit", unit)
	if err != nil {
		return err
	}
	var e *C.char
	rc := C.ptlgo_observe(l.p, u.ptr(), C.uint64_t(remaining), C.int64_t(resetAfter), &e)
	runtime.KeepAlive(l)
	return check(rc, e)
}

// ObserveHeaders applies what a response's headers say: OpenAI's x-ratelimit-remaining-*
// and x-ratelimit-reset-*, Anthropic's anthropic-ratelimit-*-remaining and -reset, and
// Retry-After (as Penalize). Unknown headers, units the policy lacks and malformed values
// are skipped. It returns how many observations were applied (Retry-After counts one).
//
//	resp, err := client.Do(req)
//	...
//	lim.ObserveHeaders(resp.Header)
func (l *Limiter) ObserveHeaders(h http.Header) (int, error) {
	var names, values packed
	n := 0
	for name, vs := range h {
		for _, v := range vs {
			nb, err1 := pack(names, "header", name)
			vb, err2 := pack(values, "header value", v)
			if err1 != nil || err2 != nil {
				continue // a NUL byte: not a header any provider sends
			}
			names, values = nb, vb
			n++
		}
	}
	var e *C.char
	rc := C.ptlgo_observe_headers(l.p, names.ptr(), values.ptr(), C.size_t(n), &e)
	runtime.KeepAlive(l)
	if err := check(rc, e); err != nil {
		return 0, err
	}
	return int(rc), nil
}

// Usage returns the state of the limit (unit, window) (window 0: the held limit of unit);
// ErrNotFound if the policy has no such limit.
func (l *Limiter) Usage(unit string, window time.Duration) (Usage, error) {
	u, err := pack(nil, "unit", unit)
	if err != nil {
		return Usage{}, err
	}
	var out C.ptl_usage
	out.struct_size = C.uint32_t(unsafe.Sizeof(out))
	var e *C.char
	rc := C.ptlgo_usage(l.p, u.ptr(), C.int64_t(window), &out, &e)
	runtime.KeepAlive(l)
	if err := check(rc, e); err != nil {
		return Usage{}, err
	}
	return Usage{
		Max:         uint64(out.max),
		Window:      time.Duration(out.window_ns),
		Used:        uint64(out.used),
		ObservedCap: uint64(out.observed_cap),
		NextRoom:    time.Duration(out.next_room_ns),
	}, nil
}

func providerPolicyFromC(p *C.ptl_preset_policy) ProviderPolicy {
	out := ProviderPolicy{
		Name:        C.GoString(p.name),
		Description: C.GoString(p.description),
		SourceDate:  C.GoString(p.source_date),
		Source:      C.GoString(p.source),
	}
	if p.limits != nil {
		for _, l := range unsafe.Slice(p.limits, p.n_limits) {
			out.Limits = append(out.Limits, limitFromC(&l))
		}
	}
	return out
}

// PresetPolicy returns the provider policy name (matched ASCII case-insensitively), such
// as "openai_tier1_gpt_4o"; ErrNotFound if the library has none of that name.
func PresetPolicy(name string) (ProviderPolicy, error) {
	n, err := pack(nil, "preset policy", name)
	if err != nil {
		return ProviderPolicy{}, err
	}
	var out C.ptl_preset_policy
	out.struct_size = C.uint32_t(unsafe.Sizeof(out))
	var e *C.char
	if err := check(C.ptlgo_preset_policy_get(n.ptr(), &out, &e), e); err != nil {
		return ProviderPolicy{}, err
	}
	return providerPolicyFromC(&out), nil
}

// PresetPolicies returns every provider policy the library ships, in its table's order.
func PresetPolicies() ([]ProviderPolicy, error) {
	var out []ProviderPolicy
	h := cgo.NewHandle(&out)
	defer h.Delete()
	var e *C.char
	err := check(C.ptlgo_preset_policy_list(C.uintptr_t(h), &e), e)
	return out, err
}
