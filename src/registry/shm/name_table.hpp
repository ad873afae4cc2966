// SPDX-License-Identifier: MIT
// The registry's names: an open-addressing hash table from name to limiter block.
//
// Every function requires the registry lock. An entry is published by one store of its
// `limiter` field; its derived counts (live, used) are rebuilt by names_repair when a
// holder of the lock died. An entry whose limiter was closed (uid 0: a remover died
// between closing it and erasing its name) reads as absent.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;

// The live limiter block named `name`, or 0.
Offset names_find(Segment& seg, std::string_view name);
// Adds `name` (absent) -> limiter; grows the table. Throws StatusError(kBackend) when full.
void names_insert(Segment& seg, std::string_view name, Offset limiter);
// Removes the entry of `name` that points to `limiter` (closed or not); false if none.
bool names_erase(Segment& seg, std::string_view name, Offset limiter);
// Every live limiter block, in table order.
std::vector<Offset> names_all(Segment& seg);
// Rebuilds the counts and drops entries of closed limiters. Never throws.
void names_repair(Segment& seg) noexcept;

}  // namespace ptl::shm
