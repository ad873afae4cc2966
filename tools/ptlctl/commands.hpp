// SPDX-License-Identifier: MIT
// The ptlctl commands, each on an open registry but destroy (which deletes one). They
// return the process exit status: 0 done, 1 the registry refused or failed (message
// already on stderr).
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <string>

#include "args.hpp"

namespace ptlctl {

int list(ptl_registry* reg, const Options& opts);
int stats(ptl_registry* reg, const Options& opts);
int watch(ptl_registry* reg, const Options& opts);
int register_limiter(ptl_registry* reg, const Options& opts);
int remove(ptl_registry* reg, const Options& opts);
// Deletes the segment of `uri` (shown in messages as `shown`, without a password).
int destroy(const std::string& uri, const std::string& shown, const Options& opts);

// Lists the provider policies of the library's table; needs no registry.
int presets(const Options& opts);

// Prints "ptlctl: <what>: <status name>: <ptl_last_error()>" to stderr and returns 1.
int report_failure(const char* what, int status);

}  // namespace ptlctl
