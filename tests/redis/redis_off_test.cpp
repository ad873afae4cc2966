// SPDX-License-Identifier: MIT
// A library built with -DPTL_WITH_REDIS=OFF: redis:// URIs are refused with a message.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <string>

TEST(RedisOff, RedisUriSaysNotBuiltIn) {
  ptl_registry* reg = nullptr;
  EXPECT_EQ(ptl_registry_open("redis://127.0.0.1:6379", &reg), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("not built in"), std::string::npos)
      << ptl_last_error();
  EXPECT_EQ(reg, nullptr);
}
