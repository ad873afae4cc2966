// SPDX-License-Identifier: MIT

// Package ptl binds pocketflow-throttled: many goroutines, processes and hosts share one
// API quota through a named limiter.
//
// A limiter enforces together: at most MaxConcurrent permits held at once, at most
// MaxPerWindow grants in any interval of Window (a strict sliding window), and optionally
// at most MaxCostPerWindow units of cost (LLM tokens, bytes). Limiters live in a Registry by
// name: register once at start-up, then use the name anywhere.
//
//	cfg := ptl.DefaultConfig()
//	cfg.MaxConcurrent, cfg.MaxPerWindow = 10, 60 // 60 per cfg.Window (60 s)
//	if err := ptl.Default().Register("openai", cfg); err != nil { ... }
//
//	openai, _ := ptl.Default().Get("openai") // keep the *Limiter on hot paths
//	permit, err := openai.Acquire(ctx)        // honours ctx cancellation and deadline
//	if err != nil { return err }
//	defer permit.Release()
//
// # Policies
//
// Providers count several things at once (requests and tokens, per minute and per day;
// Anthropic: input and output tokens). A policy is a limiter of up to 16 limits, admitted
// together (Window 0: held at once). Acquire with an estimate, Settle the real usage once
// the response says it, and feed the response's headers back so that usage the library
// cannot see (other users of the key) counts too:
//
//	err := reg.RegisterPolicy("openai", []ptl.Limit{
//		{Unit: "requests", Max: 500, Window: time.Minute},
//		{Unit: "tokens", Max: 30000, Window: time.Minute},
//		{Unit: "requests", Max: 10}, // at most 10 in flight
//	}, false)
//	// or a provider's published limits: p, _ := ptl.PresetPolicy("openai_tier1_gpt_4o"); p.Limits
//
//	permit, err := openai.AcquireAmounts(ctx, ptl.Amount{Unit: "tokens", Amount: estimate})
//	if err != nil { return err }
//	defer permit.Release()
//	resp, err := client.Do(req)
//	...
//	permit.Settle(ptl.Amount{Unit: "tokens", Amount: used}) // from the response's usage
//	openai.ObserveHeaders(resp.Header)                       // x-ratelimit-remaining-tokens...
//
// Limiter.Usage tells what each limit holds now and what the provider said is left.
//
// The same code shares a quota between processes of one host with ptl.Open("shm://NAME"),
// or between hosts with ptl.Open("redis://HOST:PORT").
//
// The package links libpocketflow_throttled through pkg-config (package
// pocketflow_throttled): set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a library installed
// under PREFIX, and LD_LIBRARY_PATH=PREFIX/lib at run time if PREFIX is not a system path.
package ptl

/*
#cgo pkg-config: pocketflow_throttled
#include "shim.h"
*/
import "C"

import (
	"strings"
	"time"
	"unsafe"
)

// Config holds the limits of a limiter. Start from DefaultConfig: the zero Config is
// invalid (MaxConcurrent must be at least 1, Window positive).
type Config struct {
	MaxConcurrent    uint32        // at most this many permits held at once (>= 1)
	MaxPerWindow     uint64        // at most this many grants in any Window; 0: no limit
	Window           time.Duration // the sliding window's length (> 0)
	MaxCostPerWindow uint64        // at most this much cost in any Window; 0: no limit
}

// DefaultConfig returns the library's defaults (ptl_limiter_config_init): 5 at once, no
// throughput limit, a 60 s window, no cost limit.
func DefaultConfig() Config {
	var c C.ptl_limiter_config
	C.ptl_limiter_config_init(&c)
	return configFromC(&c)
}

func (c Config) toC() C.ptl_limiter_config {
	var r C.ptl_limiter_config
	C.ptl_limiter_config_init(&r)
	r.max_concurrent = C.uint32_t(c.MaxConcurrent)
	r.max_per_window = C.uint64_t(c.MaxPerWindow)
	r.window_seconds = C.double(c.Window.Seconds())
	r.max_cost_per_window = C.uint64_t(c.MaxCostPerWindow)
	return r
}

func configFromC(r *C.ptl_limiter_config) Config {
	return Config{
		MaxConcurrent:    uint32(r.max_concurrent),
		MaxPerWindow:     uint64(r.max_per_window),
		Window:           time.Duration(float64(r.window_seconds) * float64(time.Second)),
		MaxCostPerWindow: uint64(r.max_cost_per_window),
	}
}

// Stats is a snapshot of a limiter's state and counters.
type Stats struct {
	Config             Config
	InFlight           uint32        // permits held now
	Waiting            uint32        // acquires waiting now
	CurrentWindowCount uint64        // grants in the window ending now
	CurrentWindowCost  uint64        // cost granted in the window ending now
	TotalAcquired      uint64        // permits ever granted
	TotalTimeouts      uint64        // acquires that timed out
	TotalCancelled     uint64        // acquires that were cancelled
	TotalRejected      uint64        // try-acquires refused for lack of capacity
	TotalWait          time.Duration // summed over every acquire that had to wait
}

func statsOut() C.ptl_limiter_stats {
	var s C.ptl_limiter_stats
	s.struct_size = C.uint32_t(unsafe.Sizeof(s))
	return s
}

func statsFromC(s *C.ptl_limiter_stats) Stats {
	return Stats{
		Config:             configFromC(&s.config),
		InFlight:           uint32(s.in_flight),
		Waiting:            uint32(s.waiting),
		CurrentWindowCount: uint64(s.current_window_count),
		CurrentWindowCost:  uint64(s.current_window_cost),
		TotalAcquired:      uint64(s.total_acquired),
		TotalTimeouts:      uint64(s.total_timeouts),
		TotalCancelled:     uint64(s.total_cancelled),
		TotalRejected:      uint64(s.total_rejected),
		TotalWait:          time.Duration(s.total_wait_ns),
	}
}

// Version returns the loaded library's version, such as "0.1.0".
func Version() string { return C.GoString(C.ptl_version_string()) }

// StatusName returns the symbolic name of a status code, such as "PTL_EINVAL".
func StatusName(status int) string { return C.GoString(C.ptl_status_name(C.int(status))) }

// SetLogLevel sets the library's log level: 0 trace .. 5 critical, 6 off (the default).
// Messages go to stderr.
func SetLogLevel(level int) error {
	var e *C.char
	return check(C.ptlgo_log_set_level(C.int(level), &e), e)
}

// check turns a status and the message copied by the C shim into nil or an *Error.
func check(rc C.int, msg *C.char) error {
	if rc >= 0 {
		return nil
	}
	text := ""
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return newError(int(rc), text)
}

// cString converts a name or URI; an interior NUL byte would truncate it, so it is refused.
// The caller frees the result with C.free.
func cString(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, newError(StatusInvalid, what+" "+quote(s)+" contains a NUL byte")
	}
	return C.CString(s), nil
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, "\x00", `\x00`) + `"` }
