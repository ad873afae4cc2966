// SPDX-License-Identifier: MIT
#include "exec/preset_policies.hpp"

#include "exec/presets.hpp"

#include <string>
#include <utility>

namespace ptl::exec {

core::PolicySpec PolicyPresetEntry::policy() const {
  core::PolicySpec p;
  p.limits.reserve(limits.size());
  for (const PresetLimit& l : limits) {
    core::LimitSpec limit;
    limit.unit = l.unit;
    limit.max = l.max;
    limit.window_ns = l.window_ns;
    p.limits.push_back(std::move(limit));
  }
  return p;
}

const PolicyPresetEntry* find_preset_policy(std::string_view name) noexcept {
  for (const PolicyPresetEntry& p : preset_policies()) {
    if (same_name(p.name, name)) return &p;
  }
  return nullptr;
}

}  // namespace ptl::exec
