// SPDX-License-Identifier: MIT
// Provider policies: the limits LLM providers publish, per account tier and model, as
// policies of several limits (ADR 15), generated at build time from exec/policies.csv (the
// one place the values live) by gen_policies.cmake. They sit next to the 0.1 presets of
// exec/presets.hpp, which they leave unchanged; no policy is named like a preset.
//
// The numbers change: each policy carries the day its source was read, and a user should
// check the limits page of their own account before relying on one.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/policy.hpp"

namespace ptl::exec {

// One limit of a provider policy, as ptl_limit of the C ABI: at most `max` units of `unit`
// in any window of `window_ns` (always > 0 here: providers publish rates, not concurrency).
struct PresetLimit {
  const char* unit;   // "requests", "tokens", "input_tokens", "output_tokens"
  uint64_t max;       // >= 1
  int64_t window_ns;  // 60e9 per minute, 86400e9 per day
};

struct PolicyPresetEntry {
  const char* name;                     // unique, lower case: "openai_tier1_gpt_4o"
  const char* description;              // one line: provider, tier, model
  const char* source_date;              // "YYYY-MM-DD": the day the source's table was read
  const char* source;                   // the URL(s) the limits were read from, separated by spaces
  std::span<const PresetLimit> limits;  // 1..16, a (unit, window_ns) pair at most once

  // The policy of these limits, for a limiter (from_config stays false).
  core::PolicySpec policy() const;
};

// Every provider policy, in the order of policies.csv. Static storage; never changes.
std::span<const PolicyPresetEntry> preset_policies() noexcept;

// The policy called `name`, compared ASCII case-insensitively as find_preset() does
// ("OpenAI_Tier1_GPT_4o" finds openai_tier1_gpt_4o); nullptr if there is none.
const PolicyPresetEntry* find_preset_policy(std::string_view name) noexcept;

}  // namespace ptl::exec
