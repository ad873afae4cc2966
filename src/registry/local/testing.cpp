// SPDX-License-Identifier: MIT
#include "registry/local/testing.hpp"

#include "registry/local/local_registry.hpp"

namespace ptl::local::testing {

void set_clock(const core::Clock* clock) {
  core::LocalRegistry::clock_for_new_registries_.store(clock);
}

}  // namespace ptl::local::testing
