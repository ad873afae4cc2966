// SPDX-License-Identifier: MIT
// Test hooks of the local: backend (white-box; not part of the C ABI), in the test-only
// library ptl_local_testing: the shipped library cannot be put on another clock.
#pragma once

#include "core/clock.hpp"

namespace ptl::local::testing {

// The clock whose time the limiters of local: registries opened from now on read, wait by
// and run their timers on (ADR 19); nullptr: steady_clock() again. Registries already open
// keep theirs. The clock must outlive every limiter of those registries. A test binary sets
// it for the C ABI only if it links the C ABI statically (capi: ptl_capi_static): the
// shared library has a hidden copy of the core of its own.
void set_clock(const core::Clock* clock);

}  // namespace ptl::local::testing
