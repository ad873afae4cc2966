// SPDX-License-Identifier: MIT
// The preset table: complete against the original library (pocketflow-throttled 0.2.0,
// Presets and FlowPresets), reachable by name and by listing, through C and C++.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl.h>
#include <pocketflow_throttled/ptl.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

struct Expected {
  const char* name;
  uint32_t kind;
  uint32_t concurrent;  // max_concurrent / max_concurrent_flows / initial_concurrent_flows
  uint64_t per_minute;  // max_per_window / max_flows_per_window; 0 for the original's None
  // adaptive flows only
  uint32_t min = 0, max = 0, recovery_threshold = 0;
  double backoff = 0, recovery = 0;
};

constexpr uint32_t N = PTL_PRESET_NODE, F = PTL_PRESET_FLOW, A = PTL_PRESET_ADAPTIVE_FLOW;

// Every preset of the original, in table order: Presets' attributes (OPENAI_TIER1 is
// openai_tier1), the other names its CONFIGS accepts (anthropic_tier1..4, google_paid),
// then FlowPresets' with the prefix flow_.
const std::vector<Expected> kOriginal = {
    {"openai_free", N, 3, 3},
    {"openai_tier1", N, 5, 60},
    {"openai_tier2", N, 10, 500},
    {"openai_tier3", N, 15, 5000},
    {"openai_tier4", N, 20, 10000},
    {"openai_tier5", N, 30, 30000},
    {"anthropic_free", N, 2, 5},
    {"anthropic_build_tier1", N, 5, 50},
    {"anthropic_build_tier2", N, 10, 1000},
    {"anthropic_build_tier3", N, 15, 2000},
    {"anthropic_build_tier4", N, 20, 4000},
    {"anthropic_tier1", N, 5, 50},
    {"anthropic_tier2", N, 10, 1000},
    {"anthropic_tier3", N, 15, 2000},
    {"anthropic_tier4", N, 20, 4000},
    {"anthropic_standard", N, 5, 50},
    {"anthropic_scale", N, 15, 2000},
    {"google_free", N, 2, 15},
    {"google_pay_as_you_go", N, 10, 1000},
    {"google_paid", N, 10, 1000},
    {"cohere_trial", N, 2, 20},
    {"cohere_production", N, 10, 10000},
    {"huggingface_free", N, 1, 30},
    {"huggingface_pro", N, 5, 1000},
    {"mistral_free", N, 2, 30},
    {"mistral_standard", N, 10, 500},
    {"conservative", N, 2, 20},
    {"moderate", N, 5, 60},
    {"aggressive", N, 10, 200},
    {"unlimited_concurrent", N, 50, 0},
    {"scraping_polite", N, 2, 10},
    {"scraping_moderate", N, 5, 30},
    {"scraping_aggressive", N, 10, 60},
    {"flow_conservative", F, 3, 30},
    {"flow_moderate", F, 10, 60},
    {"flow_aggressive", F, 25, 200},
    {"flow_high_throughput", F, 50, 500},
    {"flow_unlimited", F, 100, 0},
    {"flow_batch_processing", F, 10, 100},
    {"flow_data_pipeline", F, 20, 200},
    {"flow_realtime", F, 5, 0},
    {"flow_heavy_processing", F, 5, 20},
    {"flow_adaptive_conservative", A, 5, 0, 2, 15, 20, 0.5, 1.2},
    {"flow_adaptive_moderate", A, 10, 0, 3, 30, 15, 0.5, 1.3},
    {"flow_adaptive_aggressive", A, 20, 0, 5, 50, 10, 0.6, 1.4},
};

ptl_preset blank() {
  ptl_preset p;
  std::memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  return p;
}

void expect_matches(const Expected& e, const ptl_preset& p) {
  SCOPED_TRACE(e.name);
  EXPECT_STREQ(p.name, e.name);
  ASSERT_NE(p.description, nullptr);
  EXPECT_GT(std::strlen(p.description), 0u);
  EXPECT_EQ(p.kind, e.kind);
  EXPECT_EQ(p.config.struct_size, sizeof(ptl_limiter_config));
  EXPECT_EQ(p.config.max_concurrent, e.concurrent);
  EXPECT_EQ(p.config.max_per_window, e.per_minute);
  EXPECT_EQ(p.config.window_seconds, 60.0);
  EXPECT_EQ(p.config.max_cost_per_window, 0u);
  EXPECT_EQ(p.adaptive.min_concurrent, e.min);
  EXPECT_EQ(p.adaptive.max_concurrent, e.max);
  EXPECT_EQ(p.adaptive.recovery_threshold, e.recovery_threshold);
  EXPECT_DOUBLE_EQ(p.adaptive.backoff_factor, e.backoff);
  EXPECT_DOUBLE_EQ(p.adaptive.recovery_factor, e.recovery);
}

std::vector<ptl_preset> list_all() {
  std::vector<ptl_preset> out;
  EXPECT_EQ(ptl_preset_list(
                [](void* user, const ptl_preset* p) {
                  static_cast<std::vector<ptl_preset>*>(user)->push_back(*p);
                  return 0;
                },
                &out),
            PTL_OK);
  return out;
}

TEST(PresetsC, ListIsExactlyTheOriginalTableInOrder) {
  const std::vector<ptl_preset> all = list_all();
  ASSERT_EQ(all.size(), kOriginal.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].struct_size, sizeof(ptl_preset));
    expect_matches(kOriginal[i], all[i]);
  }
}

TEST(PresetsC, GetFindsEveryPresetWithItsValues) {
  for (const Expected& e : kOriginal) {
    ptl_preset p = blank();
    ASSERT_EQ(ptl_preset_get(e.name, &p), PTL_OK) << e.name << ": " << ptl_last_error();
    EXPECT_EQ(p.struct_size, sizeof(ptl_preset));
    expect_matches(e, p);
  }
}

TEST(PresetsC, NamesAreUniqueAndIdentifierLike) {
  std::set<std::string> seen;
  for (const ptl_preset& p : list_all()) {
    const std::string name = p.name;
    EXPECT_TRUE(seen.insert(name).second) << name;
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
}

TEST(PresetsC, AliasesEqualTheirTargets) {
  const std::pair<const char*, const char*> aliases[] = {
      {"anthropic_standard", "anthropic_build_tier1"}, {"anthropic_scale", "anthropic_build_tier3"},
      {"anthropic_tier1", "anthropic_build_tier1"},    {"anthropic_tier2", "anthropic_build_tier2"},
      {"anthropic_tier3", "anthropic_build_tier3"},    {"anthropic_tier4", "anthropic_build_tier4"},
      {"google_paid", "google_pay_as_you_go"},
  };
  for (const auto& [alias, target] : aliases) {
    ptl_preset a = blank(), t = blank();
    ASSERT_EQ(ptl_preset_get(alias, &a), PTL_OK);
    ASSERT_EQ(ptl_preset_get(target, &t), PTL_OK);
    EXPECT_EQ(a.config.max_concurrent, t.config.max_concurrent) << alias;
    EXPECT_EQ(a.config.max_per_window, t.config.max_per_window) << alias;
  }
}

TEST(PresetsC, GetIsCaseInsensitiveLikeTheOriginal) {
  ptl_preset p = blank();
  ASSERT_EQ(ptl_preset_get("OPENAI_TIER1", &p), PTL_OK);
  EXPECT_STREQ(p.name, "openai_tier1");
  ASSERT_EQ(ptl_preset_get("Flow_Moderate", &p), PTL_OK);
  EXPECT_STREQ(p.name, "flow_moderate");
}

TEST(PresetsC, UnknownNameIsNotFoundWithAMessageNamingIt) {
  ptl_preset p = blank();
  EXPECT_EQ(ptl_preset_get("openai_tier9", &p), PTL_ENOTFOUND);
  EXPECT_NE(std::string(ptl_last_error()).find("openai_tier9"), std::string::npos)
      << ptl_last_error();
  EXPECT_EQ(ptl_preset_get("", &p), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_preset_get("openai_tier1 ", &p), PTL_ENOTFOUND);
}

TEST(PresetsC, NullArgumentsAreInvalid) {
  ptl_preset p = blank();
  EXPECT_EQ(ptl_preset_get(nullptr, &p), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("name"), std::string::npos);
  EXPECT_EQ(ptl_preset_get("moderate", nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("out"), std::string::npos);
  EXPECT_EQ(ptl_preset_list(nullptr, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("fn"), std::string::npos);
}

TEST(PresetsC, StructSizeTooSmallIsInvalidAndWritesNothing) {
  for (uint32_t size : {0u, 4u, static_cast<uint32_t>(offsetof(ptl_preset, config))}) {
    ptl_preset p = blank();
    p.struct_size = size;
    EXPECT_EQ(ptl_preset_get("moderate", &p), PTL_EINVAL) << size;
    EXPECT_NE(std::string(ptl_last_error()).find("struct_size"), std::string::npos);
    EXPECT_EQ(p.name, nullptr);
    EXPECT_EQ(p.struct_size, size);
  }
}

TEST(PresetsC, OlderSmallerStructGetsOnlyWhatFits) {
  // A caller built before `adaptive` existed: everything up to config is filled, the
  // bytes beyond its struct_size are left alone.
  const uint32_t old_size = offsetof(ptl_preset, adaptive);
  ptl_preset p = blank();
  std::memset(&p.adaptive, 0xAB, sizeof p.adaptive);
  p.struct_size = old_size;
  ASSERT_EQ(ptl_preset_get("flow_adaptive_moderate", &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(p.struct_size, old_size);
  EXPECT_STREQ(p.name, "flow_adaptive_moderate");
  EXPECT_EQ(p.config.max_concurrent, 10u);
  unsigned char untouched[sizeof p.adaptive];
  std::memset(untouched, 0xAB, sizeof untouched);
  EXPECT_EQ(std::memcmp(&p.adaptive, untouched, sizeof untouched), 0);
}

TEST(PresetsC, LargerStructFromANewerHeaderIsAccepted) {
  struct Bigger {
    ptl_preset p;
    uint64_t future_field;
  } b;
  std::memset(&b, 0, sizeof b);
  b.p.struct_size = sizeof b;
  b.future_field = 42;
  ASSERT_EQ(ptl_preset_get("openai_tier2", &b.p), PTL_OK);
  EXPECT_EQ(b.p.struct_size, sizeof b);
  EXPECT_EQ(b.p.config.max_per_window, 500u);
  EXPECT_EQ(b.future_field, 42u);
}

TEST(PresetsC, ListStopsWhenTheCallbackReturnsNonZero) {
  struct State {
    int calls = 0;
    std::vector<std::string> names;
  } st;
  ASSERT_EQ(ptl_preset_list(
                [](void* user, const ptl_preset* p) {
                  auto* s = static_cast<State*>(user);
                  s->names.emplace_back(p->name);
                  return ++s->calls == 3 ? 7 : 0;
                },
                &st),
            PTL_OK);
  EXPECT_EQ(st.calls, 3);
  EXPECT_EQ(st.names, (std::vector<std::string>{"openai_free", "openai_tier1", "openai_tier2"}));
}

TEST(PresetsC, EveryPresetConfigRegisters) {
  ptl_registry* reg = nullptr;
  ASSERT_EQ(ptl_registry_open("local:", &reg), PTL_OK);
  for (const ptl_preset& p : list_all()) {
    EXPECT_EQ(ptl_registry_register(reg, p.name, &p.config, 0), PTL_OK)
        << p.name << ": " << ptl_last_error();
  }
  ptl_limiter* lim = nullptr;
  ASSERT_EQ(ptl_registry_get(reg, "openai_tier1", &lim), PTL_OK);
  ptl_limiter_stats st;
  std::memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  ASSERT_EQ(ptl_limiter_stats_get(lim, &st), PTL_OK);
  EXPECT_EQ(st.config.max_concurrent, 5u);
  EXPECT_EQ(st.config.max_per_window, 60u);
  EXPECT_EQ(st.config.window_seconds, 60.0);
  ptl_permit permit = 0;
  EXPECT_EQ(ptl_acquire(lim, 0, &permit), PTL_OK);
  EXPECT_EQ(ptl_release(lim, permit), PTL_OK);
  ptl_limiter_unref(lim);
  ptl_registry_close(reg);
}

TEST(PresetsCpp, ListEqualsTheCListing) {
  const std::vector<ptl::Preset> all = ptl::presets::list();
  ASSERT_EQ(all.size(), kOriginal.size());
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(kOriginal[i].name);
    EXPECT_EQ(all[i].name, kOriginal[i].name);
    EXPECT_EQ(static_cast<uint32_t>(all[i].kind), kOriginal[i].kind);
    EXPECT_EQ(all[i].config.max_concurrent, kOriginal[i].concurrent);
    EXPECT_EQ(all[i].config.max_per_window, kOriginal[i].per_minute);
    EXPECT_EQ(all[i].adaptive.min_concurrent, kOriginal[i].min);
    EXPECT_FALSE(all[i].description.empty());
  }
}

TEST(PresetsCpp, GetAndErrors) {
  const ptl::Preset p = ptl::presets::get("anthropic_build_tier2");
  EXPECT_EQ(p.name, "anthropic_build_tier2");
  EXPECT_EQ(p.kind, ptl::PresetKind::node);
  EXPECT_EQ(p.config, (ptl::LimiterConfig{.max_concurrent = 10, .max_per_window = 1000}));
  try {
    (void)ptl::presets::get("no_such_preset");
    FAIL() << "no throw";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ENOTFOUND);
    EXPECT_NE(std::string(e.what()).find("no_such_preset"), std::string::npos);
  }
  EXPECT_THROW((void)ptl::presets::get(std::string("mod\0erate", 9)), ptl::Error);
}

TEST(PresetsCpp, NamedAccessorsMirrorTheOriginal) {
  using ptl::LimiterConfig;
  EXPECT_EQ(ptl::Presets::openai_tier1(),
            (LimiterConfig{.max_concurrent = 5, .max_per_window = 60}));
  EXPECT_EQ(ptl::Presets::openai_tier5().max_per_window, 30000u);
  EXPECT_EQ(ptl::Presets::anthropic_standard(), ptl::Presets::anthropic_build_tier1());
  EXPECT_EQ(ptl::Presets::anthropic_scale(), ptl::Presets::anthropic_build_tier3());
  EXPECT_EQ(ptl::Presets::huggingface_free().max_concurrent, 1u);
  EXPECT_EQ(ptl::Presets::unlimited_concurrent().max_per_window, 0u);
  EXPECT_EQ(ptl::FlowPresets::moderate(),
            (LimiterConfig{.max_concurrent = 10, .max_per_window = 60}));
  EXPECT_EQ(ptl::FlowPresets::realtime().max_per_window, 0u);
  const ptl::Preset a = ptl::FlowPresets::adaptive_aggressive();
  EXPECT_EQ(a.kind, ptl::PresetKind::adaptive_flow);
  EXPECT_EQ(a.config.max_concurrent, 20u);
  EXPECT_EQ(a.adaptive.min_concurrent, 5u);
  EXPECT_EQ(a.adaptive.max_concurrent, 50u);
  EXPECT_EQ(a.adaptive.recovery_threshold, 10u);
  EXPECT_DOUBLE_EQ(a.adaptive.backoff_factor, 0.6);
  EXPECT_DOUBLE_EQ(a.adaptive.recovery_factor, 1.4);
}

TEST(PresetsCpp, AccessorConfigRegistersAndLimits) {
  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("openai", ptl::Presets::openai_free());  // 3 at once, 3 per minute
  ptl::Limiter lim = reg.get("openai");
  std::vector<ptl::Permit> held;
  for (int i = 0; i < 3; ++i) {
    auto permit = lim.try_acquire();
    ASSERT_TRUE(permit.has_value()) << i;
    held.push_back(std::move(*permit));
  }
  EXPECT_FALSE(lim.try_acquire().has_value());
}

}  // namespace
