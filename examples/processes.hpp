// SPDX-License-Identifier: MIT
// --processes N: the two services run in N child processes of this one, sharing "openai"
// through a registry that processes can share (p.uri: shm://NAME or redis://HOST:PORT).
//
// The parent registers "openai" afresh, starts N children (this same executable,
// /proc/self/exe, with posix_spawn and the internal role argument kChildFlag) and runs no
// service itself. Child k runs service k % 2, its share of that service's items
// (child_slice), as a ThrottledParallelBatchFlow of up to 15 instances at once. Each child
// talks to the parent over two pipes, one line per message:
//
//   child -> parent   "ready"                  registry open, flow and threads built
//   parent -> child   "go T0"                  start at CLOCK_MONOTONIC T0 (ns), a moment
//                                              just ahead, the same for every child
//   child -> parent   "item I WANT GRANT REL"  an item's stamps, ns since T0 (-1: none)
//                     "end T"                  when its flow finished, ns since T0
//                     "error TEXT"             what failed (a call, the registry)
//                     "done"                   the last line
//
// Every process of the host reads the same CLOCK_MONOTONIC, so the stamps of all children
// lie on one time line and the parent judges the merged run exactly as an in-process one;
// only the peak in flight comes from the stamps (overlapping grant-to-release spans)
// instead of a live counter. A child that fails, dies or overruns its time makes the run
// fail with the reason; the others are then stopped (SIGKILL), so nothing hangs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "scenario.hpp"

namespace demo {

// The role argument: "ptl-demo --internal-child K --processes N --uri U ..." runs child K.
inline constexpr const char* kChildFlag = "--internal-child";

// Why p.processes >= 2 cannot run on p.uri ("" if it can): the default registry and
// "local:" live in one process's memory, so separate processes would not share a quota.
std::string processes_refusal(const Params& p);

// The parent's side: the merged run, or one with .error set. In text mode `out` gets a line
// per child (pid, service, items) once they are started; nullptr prints nothing.
RunResult run_processes(const Params& p, std::FILE* out);

// The child's side (stdin and stdout are the pipes); returns the exit status.
int run_child(const Params& p, uint32_t k);

// How long the parent waits for the children once started: 10 s plus three times a rough
// estimate of the run (its full windows plus the calls' work spread over the slots).
double run_timeout_s(const Params& p);

}  // namespace demo
