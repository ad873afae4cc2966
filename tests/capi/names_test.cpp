// Limiter names through every C ABI entry point: bad and good UTF-8, lengths, NULL.
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// ---- names -----------------------------------------------------------------------------

const std::vector<std::string>& bad_names() {
  static const std::vector<std::string> names = {
      "",                                  // empty
      std::string(256, 'a'),               // 256 bytes
      std::string(254, 'a') + "\xC3\xA9",  // 256 bytes of valid UTF-8
      "\xC0\xAF",                          // overlong '/'
      "\xC1\xBF",                          // overlong 2-byte
      "\xE0\x80\xAF",                      // overlong 3-byte
      "\xE0\x9F\xBF",                      // overlong 3-byte (U+07FF)
      "\xF0\x80\x80\xAF",                  // overlong 4-byte
      "\xF0\x8F\xBF\xBF",                  // overlong 4-byte (U+FFFF)
      "a\xED\xA0\x80",                     // U+D800 (surrogate)
      "\xED\xBF\xBF",                      // U+DFFF (surrogate)
      "\xED\xA0\xBD\xED\xB8\x80",          // CESU-8 surrogate pair
      "\xF4\x90\x80\x80",                  // U+110000
      "\xF5\x80\x80\x80",                  // lead byte F5
      "\xF7\xBF\xBF\xBF",                  // U+1FFFFF
      "\xF8\x88\x80\x80\x80",              // 5-byte form
      "\xFC\x84\x80\x80\x80\x80",          // 6-byte form
      "\xFE",                              // never valid
      "\xFF",                              // never valid
      "\x80",                              // lone continuation byte
      "abc\xBF",                           // trailing lone continuation
      "\xC3",                              // truncated 2-byte
      "x\xE2\x82",                         // truncated 3-byte
      "a\xF0\x9F\x98",                     // truncated 4-byte
      "\xE2\x28\xA1",                      // bad continuation
      "\xC3\x28",                          // bad continuation
  };
  return names;
}

const std::vector<std::string>& good_names() {
  static const std::vector<std::string> names = {
      "a",
      std::string(255, 'z'),
      std::string(253, 'b') + "\xC3\xA9",          // exactly 255 bytes, ends in a 2-byte char
      std::string(251, 'c') + "\xF0\x9F\x98\x80",  // exactly 255 bytes, ends in a 4-byte char
      "openai/gpt-4o mini:eu",
      "\xC3\xA9t\xC3\xA9",  // été
      "\xE2\x82\xAC",       // €
      "\xED\x9F\xBF",       // U+D7FF (last before the surrogates)
      "\xEE\x80\x80",       // U+E000 (first after the surrogates)
      "\xEF\xBF\xBF",       // U+FFFF
      "\xF4\x8F\xBF\xBF",   // U+10FFFF
      "\x7F",               // DEL is valid UTF-8
  };
  return names;
}

std::string printable(const std::string& s) {
  std::string out;
  char buf[8];
  for (unsigned char c : s.substr(0, 40)) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > 40) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

TEST(CapiNames, BadNamesAreRejectedEverywhere) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(2);
  for (const std::string& name : bad_names()) {
    SCOPED_TRACE(printable(name));
    const char* n = name.c_str();
    EXPECT_EQ(ptl_registry_register(reg, n, &cfg, 0), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_register(nullptr, n, &cfg, PTL_REPLACE), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    ptl_limiter* out = nullptr;
    EXPECT_EQ(ptl_registry_get(reg, n, &out), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_get_or_create(reg, n, &cfg, &out), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_get_or_create(nullptr, n, &cfg, &out), PTL_EINVAL);
    EXPECT_EQ(ptl_registry_exists(reg, n), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_remove(reg, n), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    ptl_limiter_stats s{};
    s.struct_size = sizeof s;
    EXPECT_EQ(ptl_registry_stats(reg, n, &s), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
  }
  // Nothing was registered by any of them.
  EXPECT_EQ(count_listed(reg), 0);
}

TEST(CapiNames, NullNamesAreRejectedEverywhere) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(2);
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_register(reg, nullptr, &cfg, 0), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_get(reg, nullptr, &out), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_get_or_create(reg, nullptr, &cfg, &out), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_exists(reg, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_remove(reg, nullptr), PTL_EINVAL);
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(reg, nullptr, &s), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
}

TEST(CapiNames, GoodNamesWorkAndRoundTripThroughList) {
  Reg reg;
  ptl_limiter_config cfg = make_cfg(2);
  std::vector<std::string> expected;
  for (const std::string& name : good_names()) {
    SCOPED_TRACE(printable(name));
    ASSERT_EQ(ptl_registry_register(reg, name.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
    EXPECT_EQ(ptl_registry_exists(reg, name.c_str()), 1);
    Lim lim;
    EXPECT_EQ(ptl_registry_get(reg, name.c_str(), lim.out()), PTL_OK);
    EXPECT_NE(lim.get(), nullptr);
    expected.push_back(name);
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> listed;
  ASSERT_EQ(ptl_registry_list(
                reg,
                [](void* u, const char* n, const ptl_limiter_config*) {
                  static_cast<std::vector<std::string>*>(u)->push_back(n);
                  return 0;
                },
                &listed),
            PTL_OK);
  EXPECT_EQ(listed, expected);
}

}  // namespace
}  // namespace ptl_test
