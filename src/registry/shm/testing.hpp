// SPDX-License-Identifier: MIT
// Test hooks of the shm:// backend (white-box; not part of the C ABI), in the test-only
// library ptl_shm_testing: the shipped library cannot crash itself on purpose.
//
// The crash simulations (die_in_*) take the lock they name, leave the state behind that
// a holder killed half-way through its work would, then kill their own process with
// SIGKILL while holding the lock. The next process to take the lock must find
// EOWNERDEAD and repair everything. The others put a segment into states that are hard
// to reach from outside (a lost window log, a full arena) or hold an agent at one point
// of its loop (set_agent_loop_hook, agent.hpp). Each function taking a registry throws
// StatusError(kInvalid) if `reg` is not an shm:// registry.
#pragma once

#include <cstdint>
#include <string_view>

#include "registry/registry_backend.hpp"

namespace ptl::shm::testing {

// Frees one of this process's permits of limiter `name` without counting it down (a
// release cut short), garbles the limiter's derived state (counts, queue links, window
// and held sums), and dies holding the limiter's lock.
[[noreturn]] void die_in_limiter_lock(core::RegistryBackend& reg, std::string_view name);

// Closes limiter `name` without erasing its name (a removal cut short), garbles the
// name table's counts, and dies holding the registry lock.
[[noreturn]] void die_in_registry_lock(core::RegistryBackend& reg, std::string_view name);

// Garbles a free list head of the arena and dies holding the arena lock.
[[noreturn]] void die_in_arena_lock(core::RegistryBackend& reg);

// Drops limiter `name`'s window logs, as repair does with an unreadable one (the log is
// leaked, not freed): each limit has no log until its next grant makes one.
void drop_window_log(core::RegistryBackend& reg, std::string_view name);

// Makes the arena refuse new blocks, as a full segment does (free blocks are still
// handed out); returns what restore_arena needs to undo it.
uint64_t fill_arena(core::RegistryBackend& reg);
void restore_arena(core::RegistryBackend& reg, uint64_t saved);

}  // namespace ptl::shm::testing
