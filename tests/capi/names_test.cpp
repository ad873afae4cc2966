// SPDX-License-Identifier: MIT
// Limiter names through the process default registry (NULL): bad names are refused there
// too. The same checks on private registries of every backend are in tests/conformance.
#include <string>

#include "capi_util.hpp"
#include "names_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiNames, TheDefaultRegistryRejectsBadNames) {
  const ptl_limiter_config cfg = make_cfg(2);
  for (const std::string& name : bad_names()) {
    SCOPED_TRACE(printable(name));
    const char* n = name.c_str();
    EXPECT_EQ(ptl_registry_register(nullptr, n, &cfg, PTL_REPLACE), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    ptl_limiter* out = nullptr;
    EXPECT_EQ(ptl_registry_get_or_create(nullptr, n, &cfg, &out), PTL_EINVAL);
    EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
    EXPECT_EQ(ptl_registry_exists(nullptr, n), PTL_EINVAL);
  }
  EXPECT_EQ(ptl_registry_register(nullptr, nullptr, &cfg, 0), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("name")) << ptl_last_error();
}

}  // namespace
}  // namespace ptl_test
