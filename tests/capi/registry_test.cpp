// SPDX-License-Identifier: MIT
// The process default registry (NULL) and private "local:" registries: what only the
// in-process backend has. Registry behaviour common to every backend is in
// tests/conformance.
#include <string>
#include <thread>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiRegistry, PrivateRegistriesAreIndependent) {
  const std::string name = unique_name("indep");
  ptl_registry* r1 = nullptr;
  ptl_registry* r2 = nullptr;
  ASSERT_EQ(ptl_registry_open("local:", &r1), PTL_OK);
  ASSERT_EQ(ptl_registry_open("local:", &r2), PTL_OK);
  ASSERT_NE(r1, nullptr);
  ASSERT_NE(r2, nullptr);
  EXPECT_NE(r1, r2);
  ptl_limiter_config c1 = make_cfg(1), c2 = make_cfg(2), c0 = make_cfg(3);
  ASSERT_EQ(ptl_registry_register(r1, name.c_str(), &c1, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(nullptr, name.c_str()), 0);
  EXPECT_EQ(ptl_registry_exists(r2, name.c_str()), 0);
  ASSERT_EQ(ptl_registry_register(r2, name.c_str(), &c2, 0), PTL_OK);
  ASSERT_EQ(ptl_registry_register(nullptr, name.c_str(), &c0, 0), PTL_OK);
  EXPECT_EQ(reg_stats(r1, name.c_str()).config.max_concurrent, 1u);
  EXPECT_EQ(reg_stats(r2, name.c_str()).config.max_concurrent, 2u);
  EXPECT_EQ(reg_stats(nullptr, name.c_str()).config.max_concurrent, 3u);

  Lim h1, h0;
  ASSERT_EQ(ptl_registry_get(r1, name.c_str(), h1.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get(nullptr, name.c_str(), h0.out()), PTL_OK);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(h1, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(h0).in_flight, 0u);
  EXPECT_EQ(ptl_release(h0, p), PTL_EINVAL) << "a permit of another registry's limiter";

  // Closing a registry leaves its handles valid; resetting one leaves the others alone.
  ptl_registry_close(r1);
  EXPECT_EQ(stats_of(h1).in_flight, 1u);
  EXPECT_EQ(ptl_release(h1, p), PTL_OK);
  ASSERT_EQ(ptl_registry_reset(r2), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(nullptr, name.c_str()), 1);
  ptl_registry_close(r2);
  EXPECT_EQ(ptl_registry_remove(nullptr, name.c_str()), PTL_OK);
}

TEST(CapiRegistry, DefaultRegistryIsShared) {
  const std::string name = unique_name("default");
  ptl_limiter_config cfg = make_cfg(2);
  ASSERT_EQ(ptl_registry_register(nullptr, name.c_str(), &cfg, 0), PTL_OK);
  Lim a, b;
  std::thread([&] { EXPECT_EQ(ptl_registry_get(nullptr, name.c_str(), a.out()), PTL_OK); }).join();
  ASSERT_EQ(ptl_registry_get(nullptr, name.c_str(), b.out()), PTL_OK);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(b).in_flight, 1u);
  EXPECT_EQ(ptl_release(b, p), PTL_OK);
  EXPECT_EQ(ptl_registry_remove(nullptr, name.c_str()), PTL_OK);
}

// local: has no parameters to repeat or misspell: anything after it is PTL_EINVAL saying so.
TEST(CapiRegistry, LocalTakesNoPathOrParameters) {
  for (const char* uri : {"local:?a=1&a=1", "local:?mode=0600", "local:x", "local://x"}) {
    SCOPED_TRACE(uri);
    ptl_registry* reg = nullptr;
    EXPECT_EQ(ptl_registry_open(uri, &reg), PTL_EINVAL);
    EXPECT_EQ(reg, nullptr);
    EXPECT_TRUE(last_error_mentions("local: takes no path or parameters")) << ptl_last_error();
  }
}

}  // namespace
}  // namespace ptl_test
