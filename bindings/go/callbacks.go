// SPDX-License-Identifier: MIT

package ptl

// Functions the C shim calls back. A file with //export may only declare in its preamble.

// #include "shim.h"
import "C"

import "runtime/cgo"

// ptlgoAcquireDone runs once for an acquire Go waits on, on whichever thread completed it
// (a releasing goroutine's thread or a library thread). It must not block.
//
//export ptlgoAcquireDone
func ptlgoAcquireDone(h C.uintptr_t) {
	select {
	case cgo.Handle(h).Value().(chan struct{}) <- struct{}{}:
	default: // buffered with room for the one notification; never reached
	}
}

//export ptlgoListItem
func ptlgoListItem(h C.uintptr_t, name *C.char, cfg *C.ptl_limiter_config) {
	out := cgo.Handle(h).Value().(*[]Entry)
	*out = append(*out, Entry{Name: C.GoString(name), Config: configFromC(cfg)})
}

//export ptlgoPresetPolicyItem
func ptlgoPresetPolicyItem(h C.uintptr_t, p *C.ptl_preset_policy) {
	out := cgo.Handle(h).Value().(*[]ProviderPolicy)
	*out = append(*out, providerPolicyFromC(p))
}
