// Test hooks of the shm:// backend (white-box; not part of the C ABI).
//
// The crash simulations (die_in_*) take the lock they name, leave the state behind that
// a holder killed half-way through its work would, then kill their own process with
// SIGKILL while holding the lock. The next process to take the lock must find
// EOWNERDEAD and repair everything. The others put a segment into states that are hard
// to reach from outside (a lost window log, a full arena) or hold an agent at one point
// of its loop. Each function taking a registry throws Error(kInvalid) if `reg` is not an
// shm:// registry.
#pragma once

#include <atomic>
#include <cstdint>
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

// Drops limiter `name`'s window log, as repair does with an unreadable one (the ring is
// leaked, not freed): the limiter has no ring until its next grant makes one.
void drop_window_log(core::Registry& reg, std::string_view name);

// Makes the arena refuse new blocks, as a full segment does (free blocks are still
// handed out); returns what restore_arena needs to undo it.
uint64_t fill_arena(core::Registry& reg);
void restore_arena(core::Registry& reg, uint64_t saved);

// Called by every agent thread on each turn of its loop, between reading its doorbell
// word and checking its stop flag: a test that blocks in it until stop() has rung puts
// the stop exactly into the gap that once made ptl_registry_close hang. Null (the
// default) calls nothing.
using AgentLoopHook = void (*)(std::atomic<uint32_t>& doorbell);
void set_agent_loop_hook(AgentLoopHook hook);
AgentLoopHook agent_loop_hook();

}  // namespace ptl::shm::testing
