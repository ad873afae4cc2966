// The limiter script of the redis:// backend (lua/*.lua, embedded at build time).
#pragma once

#include <string_view>

namespace ptl::core::redis {

std::string_view limiter_script();

}  // namespace ptl::core::redis
