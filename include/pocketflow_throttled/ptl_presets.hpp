// ptl_presets.hpp - the preset table in C++ (included by ptl.hpp; see ptl_preset_get).
//
//   ptl::registry().register_limiter("openai", ptl::Presets::openai_tier1());
//   ptl::Preset p = ptl::presets::get("anthropic_build_tier2");   // throws on unknown names
//   for (const ptl::Preset& p : ptl::presets::list()) std::puts(p.name.data());
#pragma once

#include <pocketflow_throttled/ptl.hpp>

#include <cstdint>
#include <exception>
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
  struct State {
    std::vector<Preset> out;
    std::exception_ptr error;
  } state;
  detail::check(ptl_preset_list(
      [](void* user, const ptl_preset* p) -> int {
        auto* s = static_cast<State*>(user);
        try {
          s->out.push_back(Preset::from_c(*p));
          return 0;
        } catch (...) {  // nothing may unwind through the C library
          s->error = std::current_exception();
          return 1;
        }
      },
      &state));
  if (state.error) std::rethrow_exception(state.error);
  return std::move(state.out);
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
#define PTL_FLOW_PRESET_(n, T, member)      \
  static T n() {                            \
    return presets::get("flow_" #n) member; \
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

}  // namespace ptl
