// SPDX-License-Identifier: MIT

package ptl

// #include "shim.h"
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// Registry holds limiters by name. Every component that uses the same name in the same
// registry shares the same limits. It is safe for concurrent use.
type Registry struct {
	p       *C.ptl_registry // nil: the process default registry
	closed  atomic.Bool
	cleanup runtime.Cleanup
}

var defaultRegistry = &Registry{}

// Default returns the process default registry. Its backend comes from the environment
// variable PTL_REGISTRY_URI (default "local:"); it is never closed.
func Default() *Registry { return defaultRegistry }

// Open opens a registry: "local:" (a new private in-process registry), "shm://NAME"
// (processes of this host) or "redis://HOST:PORT[/DB][?prefix=P]" (many hosts). An unknown
// scheme is ErrInvalid; an unreachable server is ErrBackend. Close it when done (a
// forgotten one is closed when garbage collected).
func Open(uri string) (*Registry, error) {
	curi, err := cString("URI", uri)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(curi))
	var p *C.ptl_registry
	var e *C.char
	if err := check(C.ptlgo_open(curi, &p, &e), e); err != nil {
		return nil, err
	}
	r := &Registry{p: p}
	r.cleanup = runtime.AddCleanup(r, func(p *C.ptl_registry) { C.ptl_registry_close(p) }, p)
	return r, nil
}

// Close closes a registry returned by Open; limiters obtained from it keep working until
// closed themselves. It must not race with other calls on r. Closing Default() does nothing.
func (r *Registry) Close() error {
	if r.p != nil && r.closed.CompareAndSwap(false, true) {
		r.cleanup.Stop()
		C.ptl_registry_close(r.p)
	}
	return nil
}

// with runs f with the C name, after the checks every call shares.
func (r *Registry) with(name string, f func(cname *C.char, e **C.char) C.int) error {
	if r.closed.Load() {
		return newError(StatusClosed, "registry is closed")
	}
	cname, err := cString("name", name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cname))
	var e *C.char
	rc := f(cname, &e)
	runtime.KeepAlive(r)
	return check(rc, e)
}

// Register registers limiter name (1 to 255 bytes of UTF-8) with cfg; ErrExists if it
// exists already.
func (r *Registry) Register(name string, cfg Config) error {
	c := cfg.toC()
	return r.with(name, func(n *C.char, e **C.char) C.int { return C.ptlgo_register(r.p, n, &c, 0, e) })
}

// Replace registers name, or changes its limits in place if it exists: permits in flight
// and the window's history still count against the new limits.
func (r *Registry) Replace(name string, cfg Config) error {
	c := cfg.toC()
	return r.with(name, func(n *C.char, e **C.char) C.int {
		return C.ptlgo_register(r.p, n, &c, C.PTL_REPLACE, e)
	})
}

// Get returns limiter name; ErrNotFound if there is none. Keep the *Limiter on hot paths
// instead of looking the name up each time.
func (r *Registry) Get(name string) (*Limiter, error) {
	var p *C.ptl_limiter
	if err := r.with(name, func(n *C.char, e **C.char) C.int { return C.ptlgo_get(r.p, n, &p, e) }); err != nil {
		return nil, err
	}
	return newLimiter(p), nil
}

// GetOrCreate is Get, registering name with cfg first if it does not exist, in one atomic
// step (cfg is ignored for an existing limiter).
func (r *Registry) GetOrCreate(name string, cfg Config) (*Limiter, error) {
	c := cfg.toC()
	var p *C.ptl_limiter
	err := r.with(name, func(n *C.char, e **C.char) C.int { return C.ptlgo_get_or_create(r.p, n, &c, &p, e) })
	if err != nil {
		return nil, err
	}
	return newLimiter(p), nil
}

// Exists reports whether limiter name exists.
func (r *Registry) Exists(name string) (bool, error) {
	var rc C.int
	err := r.with(name, func(n *C.char, e **C.char) C.int { rc = C.ptlgo_exists(r.p, n, e); return rc })
	return rc == 1, err
}

// Remove removes limiter name (ErrNotFound if there is none). Limiters obtained earlier keep
// working on the removed limiter until closed.
func (r *Registry) Remove(name string) error {
	return r.with(name, func(n *C.char, e **C.char) C.int { return C.ptlgo_remove(r.p, n, e) })
}

// Reset removes every limiter of the registry.
func (r *Registry) Reset() error {
	if r.closed.Load() {
		return newError(StatusClosed, "registry is closed")
	}
	var e *C.char
	rc := C.ptlgo_reset(r.p, &e)
	runtime.KeepAlive(r)
	return check(rc, e)
}

// Entry is one registered limiter, as listed by List.
type Entry struct {
	Name   string
	Config Config
}

// List returns the registered limiters in name order.
func (r *Registry) List() ([]Entry, error) {
	if r.closed.Load() {
		return nil, newError(StatusClosed, "registry is closed")
	}
	var out []Entry
	h := cgo.NewHandle(&out)
	defer h.Delete()
	var e *C.char
	rc := C.ptlgo_list(r.p, C.uintptr_t(h), &e)
	runtime.KeepAlive(r)
	return out, check(rc, e)
}

// Stats returns the statistics of limiter name.
func (r *Registry) Stats(name string) (Stats, error) {
	s := statsOut()
	err := r.with(name, func(n *C.char, e **C.char) C.int { return C.ptlgo_registry_stats(r.p, n, &s, e) })
	return statsFromC(&s), err
}
