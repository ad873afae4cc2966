// SPDX-License-Identifier: MIT
// The segment's allocator: size-class free lists over a bump region, under the arena
// lock (a leaf: callers may hold the registry or a limiter lock, nothing is locked
// under it).
//
// Each block kind has its own free lists and a freed block is reused only as its own
// kind: limiter blocks and slot chunks hold mutexes and futex words that stale handles
// in other processes may still touch (see layout.hpp). Allocation and free are each one
// publishing store (the bump pointer, a list head), so a holder that dies leaves at
// worst one block unreachable.
#pragma once

#include <cstdint>

#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

struct Block {
  Offset off = 0;
  bool fresh = false;  // carved from never-used space: all zero, never seen by anyone
};

// The smallest generic class holding `bytes`, or -1 if none does.
int generic_class(uint64_t bytes);
inline uint64_t generic_class_bytes(int cls) {
  return uint64_t{64} << cls;
}

// A block of `bytes` (a multiple of 64 is used) of `kind`; generic blocks pass
// generic_class(bytes) as cls, typed kinds an index of their own with a fixed size per
// index. Grows the file when needed. Throws StatusError(kBackend), naming the segment and
// the size, when the segment is full (its file cannot grow, or is at 1 GiB).
Block arena_alloc(Segment& seg, BlockKind kind, int cls, uint64_t bytes);

// Gives a block back to the free list of its kind and class.
void arena_free(Segment& seg, BlockKind kind, int cls, Offset off);

}  // namespace ptl::shm
