// SPDX-License-Identifier: MIT
// The provider policy table (exec/preset_policies.hpp), white-box through the core: every
// policy is a valid core::PolicySpec, its names are unique and never a 0.1 preset's, lookup is
// case-insensitive, and the compiled table is exactly the data file, src/exec/policies.csv
// (read again here, at run time, from PTL_POLICIES_CSV).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"
#include "exec/preset_policies.hpp"
#include "exec/presets.hpp"

#ifndef PTL_POLICIES_CSV
#error "PTL_POLICIES_CSV must name src/exec/policies.csv"
#endif

namespace {

using ptl::exec::find_preset;
using ptl::exec::find_preset_policy;
using ptl::exec::PolicyPresetEntry;
using ptl::exec::preset_policies;
using ptl::exec::PresetLimit;

constexpr int64_t kMinute = 60'000'000'000;
constexpr int64_t kDay = 86'400 * int64_t{1'000'000'000};

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// One data row of policies.csv.
struct Row {
  int line = 0;
  std::string policy, unit, max, window, source_date, source, description;
};

// Reads policies.csv as its header describes it: '#' lines and blank lines skipped, six
// comma-separated fields, then the description (the rest of the line).
std::vector<Row> read_csv() {
  std::ifstream in(PTL_POLICIES_CSV);
  EXPECT_TRUE(in.good()) << "cannot read " << PTL_POLICIES_CSV;
  std::vector<Row> rows;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    Row r;
    r.line = lineno;
    std::string* fields[] = {&r.policy, &r.unit, &r.max, &r.window, &r.source_date, &r.source};
    size_t pos = 0;
    for (std::string* f : fields) {
      const size_t comma = line.find(',', pos);
      if (comma == std::string::npos) {
        ADD_FAILURE() << PTL_POLICIES_CSV << ":" << lineno << ": too few columns";
        return rows;
      }
      *f = line.substr(pos, comma - pos);
      pos = comma + 1;
    }
    r.description = line.substr(pos);
    rows.push_back(r);
  }
  return rows;
}

// "60s" -> 60e9 ns.
int64_t window_ns(const std::string& w) {
  EXPECT_FALSE(w.empty());
  EXPECT_EQ(w.back(), 's') << w;
  return std::stoll(w.substr(0, w.size() - 1)) * 1'000'000'000;
}

struct L {
  const char* unit;
  uint64_t max;
  int64_t window_ns;
};

// Checks the policy `name` against the limits the data file gives it.
void expect_limits(const char* name, const std::vector<L>& want) {
  SCOPED_TRACE(name);
  const PolicyPresetEntry* p = find_preset_policy(name);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->limits.size(), want.size());
  ptl::core::PolicySpec expected;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_STREQ(p->limits[i].unit, want[i].unit) << i;
    EXPECT_EQ(p->limits[i].max, want[i].max) << i;
    EXPECT_EQ(p->limits[i].window_ns, want[i].window_ns) << i;
    ptl::core::LimitSpec l;
    l.unit = want[i].unit;
    l.max = want[i].max;
    l.window_ns = want[i].window_ns;
    expected.limits.push_back(l);
  }
  EXPECT_EQ(p->policy(), expected);
}

TEST(PresetPolicies, TableIsExactlyTheDataFileInOrder) {
  const std::vector<Row> rows = read_csv();
  ASSERT_FALSE(rows.empty());
  const auto policies = preset_policies();
  size_t pi = 0;  // the policy the current rows belong to
  size_t li = 0;  // the limit within it
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    SCOPED_TRACE(std::string(PTL_POLICIES_CSV) + ":" + std::to_string(r.line));
    if (i > 0 && r.policy != rows[i - 1].policy) {
      ASSERT_EQ(li, policies[pi].limits.size()) << "policy " << policies[pi].name;
      ++pi;
      li = 0;
    }
    ASSERT_LT(pi, policies.size());
    const PolicyPresetEntry& p = policies[pi];
    EXPECT_EQ(p.name, r.policy);
    EXPECT_EQ(p.source_date, r.source_date);
    EXPECT_NE(std::string_view(p.source).find(r.source), std::string_view::npos) << p.source;
    if (li == 0) {
      EXPECT_EQ(p.description, r.description);
    }
    ASSERT_LT(li, p.limits.size());
    const PresetLimit& l = p.limits[li];
    EXPECT_EQ(l.unit, r.unit);
    EXPECT_EQ(std::to_string(l.max), r.max);
    EXPECT_EQ(l.window_ns, window_ns(r.window));
    ++li;
  }
  EXPECT_EQ(li, policies[pi].limits.size());
  EXPECT_EQ(pi + 1, policies.size()) << "the table has policies the data file lacks";
}

TEST(PresetPolicies, EveryPolicyValidates) {
  ASSERT_GE(preset_policies().size(), 20u);
  for (const PolicyPresetEntry& p : preset_policies()) {
    SCOPED_TRACE(p.name);
    const ptl::core::PolicySpec policy = p.policy();
    EXPECT_NO_THROW(policy.validate());
    ASSERT_EQ(policy.limits.size(), p.limits.size());
    EXPECT_GE(p.limits.size(), 1u);
    EXPECT_LE(p.limits.size(), ptl::core::kMaxLimits);
    for (const PresetLimit& l : p.limits) {
      // Providers publish rates: every limit is a window, none a held (concurrency) one.
      EXPECT_GT(l.window_ns, 0) << l.unit;
      EXPECT_GE(l.max, 1u) << l.unit;
    }
    EXPECT_TRUE(policy.has_unit(ptl::core::kRequests)) << "no requests limit";
  }
}

TEST(PresetPolicies, EveryPolicyIsDescribedDatedAndSourced) {
  for (const PolicyPresetEntry& p : preset_policies()) {
    SCOPED_TRACE(p.name);
    ASSERT_NE(p.description, nullptr);
    EXPECT_GT(std::strlen(p.description), 0u);
    ASSERT_NE(p.source_date, nullptr);
    const std::string date = p.source_date;
    ASSERT_EQ(date.size(), 10u) << date;
    for (size_t i = 0; i < date.size(); ++i) {
      if (i == 4 || i == 7) {
        EXPECT_EQ(date[i], '-') << date;
      } else {
        EXPECT_TRUE(date[i] >= '0' && date[i] <= '9') << date;
      }
    }
    ASSERT_NE(p.source, nullptr);
    EXPECT_EQ(std::string_view(p.source).substr(0, 8), "https://") << p.source;
  }
}

TEST(PresetPolicies, NamesAreUniqueLowerCaseAndNeverAPresetName) {
  std::set<std::string> seen;
  for (const PolicyPresetEntry& p : preset_policies()) {
    const std::string name = p.name;
    EXPECT_TRUE(seen.insert(lower(name)).second) << name << " appears twice";
    ASSERT_FALSE(name.empty());
    EXPECT_TRUE(name[0] >= 'a' && name[0] <= 'z') << name;
    for (char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
    }
    EXPECT_EQ(find_preset(name), nullptr) << name << " is also a 0.1 preset";
  }
  for (const ptl::exec::PresetEntry& preset : ptl::exec::presets()) {
    EXPECT_EQ(find_preset_policy(preset.name), nullptr) << preset.name << " is also a policy";
  }
}

TEST(PresetPolicies, LookupIsAsciiCaseInsensitiveAndExact) {
  for (const PolicyPresetEntry& p : preset_policies()) {
    EXPECT_EQ(find_preset_policy(p.name), &p) << p.name;
    EXPECT_EQ(find_preset_policy(upper(p.name)), &p) << p.name;
  }
  const PolicyPresetEntry* sonnet = find_preset_policy("Anthropic_Tier1_Claude_Sonnet_4");
  ASSERT_NE(sonnet, nullptr);
  EXPECT_STREQ(sonnet->name, "anthropic_tier1_claude_sonnet_4");

  EXPECT_EQ(find_preset_policy(""), nullptr);
  EXPECT_EQ(find_preset_policy("openai_tier1_gpt_4o "), nullptr);
  EXPECT_EQ(find_preset_policy("openai_tier1_gpt_4"), nullptr);  // a prefix of two names
  EXPECT_EQ(find_preset_policy("openai_tier9_gpt_4o"), nullptr);
  EXPECT_EQ(find_preset_policy(std::string("openai_tier1_gpt_4o\0x", 21)), nullptr);
  EXPECT_EQ(find_preset_policy("openai_tier1"), nullptr);  // a preset, not a policy
}

TEST(PresetPolicies, SpotChecksAgainstTheDataFile) {
  expect_limits("openai_tier1_gpt_4o", {{"requests", 500, kMinute}, {"tokens", 30'000, kMinute}});
  expect_limits(
      "openai_tier1_gpt_4o_mini",
      {{"requests", 500, kMinute}, {"requests", 10'000, kDay}, {"tokens", 200'000, kMinute}});
  expect_limits("openai_tier5_gpt_4o_mini",
                {{"requests", 30'000, kMinute}, {"tokens", 150'000'000, kMinute}});
  expect_limits("anthropic_tier1_claude_sonnet_4", {{"requests", 50, kMinute},
                                                    {"input_tokens", 30'000, kMinute},
                                                    {"output_tokens", 8'000, kMinute}});
  expect_limits("anthropic_tier4_claude_haiku_4_5", {{"requests", 4'000, kMinute},
                                                     {"input_tokens", 4'000'000, kMinute},
                                                     {"output_tokens", 800'000, kMinute}});
  expect_limits(
      "gemini_free_gemini_2_5_pro",
      {{"requests", 5, kMinute}, {"requests", 100, kDay}, {"input_tokens", 250'000, kMinute}});
  expect_limits("mistral_free_tier", {{"requests", 1, 1'000'000'000},
                                      {"tokens", 500'000, kMinute},
                                      {"tokens", 1'000'000'000, 31 * kDay}});
  expect_limits("groq_free_llama_3_3_70b_versatile", {{"requests", 30, kMinute},
                                                      {"requests", 1'000, kDay},
                                                      {"tokens", 12'000, kMinute},
                                                      {"tokens", 100'000, kDay}});
  expect_limits("cohere_production_chat", {{"requests", 500, kMinute}});
}

TEST(PresetPolicies, PoliciesWithSeveralSourcesListThemAll) {
  const PolicyPresetEntry* p = find_preset_policy("openai_tier1_gpt_5");
  ASSERT_NE(p, nullptr);
  const std::string_view source = p->source;
  EXPECT_NE(source.find("hivebook.wiki"), std::string_view::npos) << source;
  EXPECT_NE(source.find("simonwillison.net"), std::string_view::npos) << source;
  EXPECT_NE(source.find(' '), std::string_view::npos) << source;
}

// The 0.1 presets are untouched by the policy table (ptl_presets_test checks every value
// through the C ABI; this checks the core table the policies sit next to).
TEST(PresetPolicies, ThePresetsOf01AreUnchanged) {
  const auto presets = ptl::exec::presets();
  ASSERT_EQ(presets.size(), 45u);
  EXPECT_STREQ(presets.front().name, "openai_free");
  EXPECT_STREQ(presets.back().name, "flow_adaptive_aggressive");
  const ptl::exec::PresetEntry* t1 = find_preset("openai_tier1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->concurrent, 5u);
  EXPECT_EQ(t1->per_minute, 60u);
  const ptl::exec::PresetEntry* a1 = find_preset("anthropic_tier1");
  ASSERT_NE(a1, nullptr);
  EXPECT_EQ(a1->concurrent, 5u);
  EXPECT_EQ(a1->per_minute, 50u);
  const ptl::exec::PresetEntry* m = find_preset("mistral_free");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->per_minute, 30u);
}

}  // namespace
