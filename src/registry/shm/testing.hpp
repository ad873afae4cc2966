// Crash simulations for the multi-process tests (white-box; not part of the C ABI).
//
// Each takes the lock it names, leaves the state behind that a holder killed half-way
// through its work would, then kills its own process with SIGKILL while holding the
// lock. The next process to take the lock must find EOWNERDEAD and repair everything.
// Each throws Error(kInvalid) if `reg` is not an shm:// registry.
#pragma once

#include <string_view>

#include "registry/registry.hpp"

namespace ptl::shm::testing {

// Frees one of this process's permits of limiter `name` without counting it down (a
// release cut short), garbles the limiter's derived state (counts, queue links, cost
// sum), and dies holding the limiter's lock.
[[noreturn]] void die_in_limiter_lock(core::Registry& reg, std::string_view name);

// Closes limiter `name` without erasing its name (a removal cut short), garbles the
// name table's counts, and dies holding the registry lock.
[[noreturn]] void die_in_registry_lock(core::Registry& reg, std::string_view name);

// Garbles a free list head of the arena and dies holding the arena lock.
[[noreturn]] void die_in_arena_lock(core::Registry& reg);

}  // namespace ptl::shm::testing
