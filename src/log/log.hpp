// SPDX-License-Identifier: MIT
// The library's logger: spdlog, off until a user asks for it through the C ABI.
#pragma once

#include <spdlog/spdlog.h>

namespace ptl::log {

// The "pocketflow_throttled" logger. Cheap to call when off: spdlog checks the level
// before formatting.
spdlog::logger& logger();

// level: 0 trace .. 5 critical, 6 off (the spdlog numbering).
void set_level(int level);

// Sends every message to fn(user, level, text); fn == nullptr restores stderr.
void set_callback(void (*fn)(void* user, int level, const char* msg), void* user);

}  // namespace ptl::log
