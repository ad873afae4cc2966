// SPDX-License-Identifier: MIT
// shm://NAME[?mode=0600&create=1]: which segment, the mode it is created with, and
// whether opening may create it.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace ptl::shm {

struct ShmUri {
  std::string uri;       // as given, for messages
  std::string name;      // NAME
  std::string shm_path;  // for shm_open: "/ptl.NAME" (the file /dev/shm/ptl.NAME)
  mode_t mode = 0600;    // applied when this process creates the segment
  bool create = true;    // create=0: an absent (or never initialized) segment is kNotFound
};

inline constexpr size_t kMaxSegmentNameBytes = 200;

// Throws StatusError(kInvalid) naming the problem: empty NAME, '/' or other characters
// outside [A-Za-z0-9._-], NAME over 200 bytes, a bad, unknown or repeated parameter.
ShmUri parse_shm_uri(std::string_view uri);

}  // namespace ptl::shm
