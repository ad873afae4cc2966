// SPDX-License-Identifier: MIT
// ptl_presets.hpp - the preset table in C++ (included by ptl.hpp; see ptl_preset_get).
//
//   ptl::registry().register_limiter("openai", ptl::Presets::openai_tier1());
//   ptl::Preset p = ptl::presets::get("anthropic_build_tier2");   // throws on unknown names
//   for (const ptl::Preset& p : ptl::presets::list()) std::puts(p.name.data());
//   // Provider policies (0.2): several limits each, registered as policies.
//   ptl::registry().register_limiter("openai", ptl::preset_policy("openai_tier1_gpt_4o"));
//   for (const ptl::PresetPolicy& p : ptl::preset_policies()) std::puts(p.name.data());
// No #pragma once: included first, this file includes ptl.hpp, which includes it again at
// the point where its definitions belong; the guard below keeps the one copy.
#include <pocketflow_throttled/ptl.hpp>

#ifndef POCKETFLOW_THROTTLED_PTL_PRESETS_HPP
#define POCKETFLOW_THROTTLED_PTL_PRESETS_HPP

#include <chrono>
#include <cstdint>
#include <exception>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace ptl {

// What a preset configures (PTL_PRESET_* of ptl.h).
enum class PresetKind : std::uint32_t {
  node = PTL_PRESET_NODE,                   // the calls of one node
  flow = PTL_PRESET_FLOW,                   // flow instances
  adaptive_flow = PTL_PRESET_ADAPTIVE_FLOW  // adaptive flow instances: config is the start
};

// One preset of the table. The strings are static: they live as long as the library.
struct Preset {
  std::string_view name;  // "openai_tier1"; NUL-terminated
  std::string_view description;
  PresetKind kind = PresetKind::node;
  LimiterConfig config;  // max_per_window per 60 s; 0 = unlimited
  // The adaptive controller's bounds and factors (PresetKind::adaptive_flow; zero otherwise).
  struct Adaptive {
    std::uint32_t min_concurrent = 0, max_concurrent = 0, recovery_threshold = 0;
    double backoff_factor = 0, recovery_factor = 0;
  } adaptive;

  // The C++ view of a C preset.
  static Preset from_c(const ptl_preset& p) noexcept {
    return {p.name,
            p.description,
            static_cast<PresetKind>(p.kind),
            LimiterConfig::from_c(p.config),
            {p.adaptive.min_concurrent, p.adaptive.max_concurrent, p.adaptive.recovery_threshold,
             p.adaptive.backoff_factor, p.adaptive.recovery_factor}};
  }
};

namespace detail {

// What a C listing function (ptl_preset_list, ptl_preset_policy_list) passes to its
// callback, each item converted by Out::from_c. Nothing may unwind through the C library,
// so an exception is kept and rethrown once the listing has returned.
template <typename Out, typename CItem>
std::vector<Out> collect(int (*list)(int (*)(void*, const CItem*), void*)) {
  struct State {
    std::vector<Out> out;
    std::exception_ptr error;
  } state;
  check(list(
      [](void* user, const CItem* item) -> int {
        auto* st = static_cast<State*>(user);
        try {
          st->out.push_back(Out::from_c(*item));
          return 0;
        } catch (...) {
          st->error = std::current_exception();
          return 1;
        }
      },
      &state));
  if (state.error) std::rethrow_exception(state.error);
  return std::move(state.out);
}

}  // namespace detail

namespace presets {

// The preset called `name` (ASCII case-insensitive); Error(PTL_ENOTFOUND) if none.
inline Preset get(std::string_view name) {
  ptl_preset p{};
  p.struct_size = sizeof p;
  detail::check(ptl_preset_get(detail::c_name(name).c_str(), &p));
  return Preset::from_c(p);
}

// Every preset, in table order.
inline std::vector<Preset> list() {
  return detail::collect<Preset, ptl_preset>(&ptl_preset_list);
}

}  // namespace presets

// Named accessors in the style of the original's Presets.OPENAI_TIER1: the limiter config
// of each node preset, looked up in the library's table (so the values live in one place).
struct Presets {
#define PTL_NODE_PRESET_(n)         \
  static LimiterConfig n() {        \
    return presets::get(#n).config; \
  }
  PTL_NODE_PRESET_(openai_free)
  PTL_NODE_PRESET_(openai_tier1)
  PTL_NODE_PRESET_(openai_tier2)
  PTL_NODE_PRESET_(openai_tier3)
  PTL_NODE_PRESET_(openai_tier4)
  PTL_NODE_PRESET_(openai_tier5)
  PTL_NODE_PRESET_(anthropic_free)
  PTL_NODE_PRESET_(anthropic_build_tier1)
  PTL_NODE_PRESET_(anthropic_build_tier2)
  PTL_NODE_PRESET_(anthropic_build_tier3)
  PTL_NODE_PRESET_(anthropic_build_tier4)
  PTL_NODE_PRESET_(anthropic_standard)
  PTL_NODE_PRESET_(anthropic_scale)
  PTL_NODE_PRESET_(google_free)
  PTL_NODE_PRESET_(google_pay_as_you_go)
  PTL_NODE_PRESET_(cohere_trial)
  PTL_NODE_PRESET_(cohere_production)
  PTL_NODE_PRESET_(huggingface_free)
  PTL_NODE_PRESET_(huggingface_pro)
  PTL_NODE_PRESET_(mistral_free)
  PTL_NODE_PRESET_(mistral_standard)
  PTL_NODE_PRESET_(conservative)
  PTL_NODE_PRESET_(moderate)
  PTL_NODE_PRESET_(aggressive)
  PTL_NODE_PRESET_(unlimited_concurrent)
  PTL_NODE_PRESET_(scraping_polite)
  PTL_NODE_PRESET_(scraping_moderate)
  PTL_NODE_PRESET_(scraping_aggressive)
#undef PTL_NODE_PRESET_
};

// The same for the original's FlowPresets: config.max_concurrent is max_concurrent_flows.
// The adaptive ones return the whole Preset, since their bounds are in Preset::adaptive.
struct FlowPresets {
// `member` is a member access (.config) or nothing, so it cannot be parenthesized.
#define PTL_FLOW_PRESET_(n, T, member)                                               \
  static T n() {                                                                     \
    return presets::get("flow_" #n) member; /* NOLINT(bugprone-macro-parentheses) */ \
  }
  PTL_FLOW_PRESET_(conservative, LimiterConfig, .config)
  PTL_FLOW_PRESET_(moderate, LimiterConfig, .config)
  PTL_FLOW_PRESET_(aggressive, LimiterConfig, .config)
  PTL_FLOW_PRESET_(high_throughput, LimiterConfig, .config)
  PTL_FLOW_PRESET_(unlimited, LimiterConfig, .config)
  PTL_FLOW_PRESET_(batch_processing, LimiterConfig, .config)
  PTL_FLOW_PRESET_(data_pipeline, LimiterConfig, .config)
  PTL_FLOW_PRESET_(realtime, LimiterConfig, .config)
  PTL_FLOW_PRESET_(heavy_processing, LimiterConfig, .config)
  PTL_FLOW_PRESET_(adaptive_conservative, Preset, )
  PTL_FLOW_PRESET_(adaptive_moderate, Preset, )
  PTL_FLOW_PRESET_(adaptive_aggressive, Preset, )
#undef PTL_FLOW_PRESET_
};

// One provider policy of the table (ptl_preset_policy_get): the limits a provider publishes
// for an account tier and model. THE NUMBERS CHANGE: check your account's limits page, and
// feed responses to Limiter::observe_headers. It converts to the policy it holds, so it can
// be given to register_limiter, get_or_create, Limiter::create and set_policy as it is.
struct PresetPolicy {
  std::string_view name;  // "openai_tier1_gpt_4o"; static, like every string here
  std::string_view description;
  std::string_view source_date;  // YYYY-MM-DD: when the provider's table was read
  std::string_view source;       // URLs, space-separated
  Policy policy;

  operator std::span<const Limit>() const noexcept { return policy; }  // NOLINT
  // The C++ view of a C provider policy.
  static PresetPolicy from_c(const ptl_preset_policy& p) {
    PresetPolicy out{p.name, p.description, p.source_date, p.source, {}};
    for (std::uint32_t i = 0; i < p.n_limits; ++i) {
      const ptl_limit& l = p.limits[i];
      out.policy.push_back({l.unit, l.max, std::chrono::nanoseconds(l.window_ns)});
    }
    return out;
  }
};

// The provider policy called `name` (ASCII case-insensitive); Error(PTL_ENOTFOUND) if none.
inline PresetPolicy preset_policy(std::string_view name) {
  ptl_preset_policy p{};
  p.struct_size = sizeof p;
  detail::check(ptl_preset_policy_get(detail::c_name(name).c_str(), &p));
  return PresetPolicy::from_c(p);
}

// Every provider policy, in table order.
inline std::vector<PresetPolicy> preset_policies() {
  return detail::collect<PresetPolicy, ptl_preset_policy>(&ptl_preset_policy_list);
}

}  // namespace ptl

#endif  // POCKETFLOW_THROTTLED_PTL_PRESETS_HPP
