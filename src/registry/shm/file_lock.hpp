// SPDX-License-Identifier: MIT
// FileLock: the flock of a segment's file that serializes creating, validating, attaching
// to and destroying it between processes. Held only for those steps; the kernel releases
// it if its holder dies, so a creator that died half-way leaves a segment the next opener
// initializes again.
#pragma once

#include <sys/file.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "core/status.hpp"

namespace ptl::shm {

class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        core::fail(core::Status::kBackend,
                   "cannot lock the shm segment: " + std::system_category().message(errno));
      }
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() { flock(fd_, LOCK_UN); }

 private:
  int fd_;
};

}  // namespace ptl::shm
