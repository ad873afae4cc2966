// SPDX-License-Identifier: MIT
// Status codes of the core and the exception that carries a failure's message.
//
// The core returns a Status for the outcomes callers handle every day (no capacity,
// timeout, cancel) and throws StatusError for misuse (bad config, foreign permit), which
// capi/ turns into the same status plus ptl_last_error(). The values equal the
// PTL_* codes of ptl.h so the shim converts by a cast.
#pragma once

#include <stdexcept>
#include <string>

namespace ptl::core {

enum class Status : int {
  kOk = 0,
  kInvalid = -1,
  kNotFound = -2,
  kExists = -3,
  kTimedOut = -4,
  kAgain = -5,
  kCanceled = -6,
  kBackend = -7,
  kClosed = -8,
  kNoMemory = -9,
  kRateLimited = -10,
  kItems = -11,
  kInternal = -99,
};

class StatusError : public std::runtime_error {
 public:
  StatusError(Status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

[[noreturn]] inline void fail(Status status, const std::string& message) {
  throw StatusError(status, message);
}

}  // namespace ptl::core
