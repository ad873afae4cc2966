// SPDX-License-Identifier: MIT
// The limiter code of the redis:// backend (lua/*.lua, embedded at build time).
#pragma once

#include <string_view>

namespace ptl::core::redis {

// The code as one script, for SCRIPT LOAD and EVALSHA (servers before 7.0).
std::string_view limiter_script();
// The same code as a library of Redis functions, for FUNCTION LOAD ...
std::string_view limiter_library();
// ... and the name of its one function, for FCALL: "ptl_" and a hash of the code.
std::string_view limiter_function();

}  // namespace ptl::core::redis
