// SPDX-License-Identifier: MIT
// Destroying an shm:// segment: unlinking its file once no other process uses it.
#pragma once

#include "registry/shm/shm_uri.hpp"

namespace ptl::shm {

// Unlinks the segment file of `uri` (ptl_registry_destroy). Without `force` it refuses,
// with StatusError(kAgain) saying how many, while a process other than the caller is attached
// (its agent holds a process entry's liveness lock), and with StatusError(kBackend) when the
// file is not a segment of this layout (its process table cannot be read). An absent
// file is StatusError(kNotFound). The check and the unlink run under the file's lock, which
// every attaching process takes again once its entry is claimed (segment.cpp), so no
// process can attach between them and be left alone on the unlinked file.
void destroy_segment(const ShmUri& uri, bool force);

}  // namespace ptl::shm
