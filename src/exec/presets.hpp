// SPDX-License-Identifier: MIT
// The preset table: the original library's Presets and FlowPresets, generated at build
// time from exec/presets.csv (the one place the values live) by gen_presets.cmake.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/config.hpp"

namespace ptl::exec {

// What a preset configures; the values equal PTL_PRESET_* of ptl.h.
enum class PresetEntryKind : uint32_t { kNode = 0, kFlow = 1, kAdaptiveFlow = 2 };

struct PresetEntry {
  const char* name;         // unique, lower case: "openai_tier1", "flow_moderate"
  const char* description;  // one line
  PresetEntryKind kind;
  uint32_t concurrent;  // max_concurrent / max_concurrent_flows / initial_concurrent_flows
  uint64_t per_minute;  // per 60 s: max_per_window / max_flows_per_window; 0 = unlimited
  // kAdaptiveFlow only (0 otherwise): the adaptive controller's bounds and factors.
  uint32_t min_concurrent;
  uint32_t max_concurrent;
  double backoff_factor;
  uint32_t recovery_threshold;
  double recovery_factor;

  // The limiter this preset describes: `concurrent` at once, `per_minute` per 60 s.
  core::BasicConfig limiter_config() const noexcept {
    core::BasicConfig cfg;
    cfg.max_concurrent = concurrent;
    cfg.max_per_window = per_minute;
    cfg.window_seconds = 60.0;
    return cfg;
  }
};

// ASCII case-insensitive equality, as the original's Presets.get() compares names.
bool same_name(std::string_view a, std::string_view b) noexcept;

// Every preset, in the order of presets.csv. Static storage; never changes.
std::span<const PresetEntry> presets() noexcept;

// The preset called `name`, compared ASCII case-insensitively as the original's
// Presets.get() does ("OPENAI_TIER1" finds openai_tier1); nullptr if there is none.
const PresetEntry* find_preset(std::string_view name) noexcept;

}  // namespace ptl::exec
