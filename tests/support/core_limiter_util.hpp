// SPDX-License-Identifier: MIT
// Making a core LocalLimiter of given limits on a given clock, for the white-box suites.
#pragma once

#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/local_limiter.hpp"

namespace ptl_test {

inline ptl::core::LimiterPtr make_local(const ptl::core::Clock& clock,
                                        std::vector<ptl::core::LimitSpec> limits) {
  ptl::core::PolicySpec p;
  p.limits = std::move(limits);
  return ptl::core::LimiterPtr(new ptl::core::LocalLimiter(p, clock), false);
}

}  // namespace ptl_test
