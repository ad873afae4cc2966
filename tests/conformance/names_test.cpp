// SPDX-License-Identifier: MIT
// Limiter names through every registry entry point of every backend: bad and good UTF-8,
// lengths, NULL; good names round-trip through the backend's storage and its listing.
#include <string>
#include <vector>

#include "conformance.hpp"
#include "names_util.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Names);

TEST_P(Names, BadNamesAreRejectedEverywhere) {
  const ptl_limiter_config cfg = make_cfg(2);
  for (const std::string& name : bad_names()) {
    SCOPED_TRACE(printable(name));
    const char* n = name.c_str();
    EXPECT_EQ(ptl_registry_register(reg(), n, &cfg, 0), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_register(reg(), n, &cfg, PTL_REPLACE), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    ptl_limiter* out = nullptr;
    EXPECT_EQ(ptl_registry_get(reg(), n, &out), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_get_or_create(reg(), n, &cfg, &out), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_exists(reg(), n), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_remove(reg(), n), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    ptl_limiter_stats s{};
    s.struct_size = sizeof s;
    EXPECT_EQ(ptl_registry_stats(reg(), n, &s), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
  }
  // Nothing was registered by any of them.
  EXPECT_EQ(count_listed(reg()), 0);
}

TEST_P(Names, NullNamesAreRejectedEverywhere) {
  const ptl_limiter_config cfg = make_cfg(2);
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_register(reg(), nullptr, &cfg, 0), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_get(reg(), nullptr, &out), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_get_or_create(reg(), nullptr, &cfg, &out), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_exists(reg(), nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_remove(reg(), nullptr), PTL_EINVAL);
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(reg(), nullptr, &s), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
}

TEST_P(Names, GoodNamesWorkAndRoundTripThroughList) {
  const ptl_limiter_config cfg = make_cfg(2);
  std::vector<std::string> expected;
  for (const std::string& name : good_names()) {
    SCOPED_TRACE(printable(name));
    ASSERT_EQ(ptl_registry_register(reg(), name.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
    EXPECT_EQ(ptl_registry_exists(reg(), name.c_str()), 1);
    Lim lim = get(peer(), name);
    EXPECT_NE(lim.get(), nullptr);
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
    EXPECT_EQ(reg_stats(reg(), name.c_str()).in_flight, 1u);
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    expected.push_back(name);
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> listed;
  ASSERT_EQ(ptl_registry_list(
                reg(),
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
