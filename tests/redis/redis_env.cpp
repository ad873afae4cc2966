// SPDX-License-Identifier: MIT
// The GoogleTest environment of the redis:// suites: one redis-server per test process,
// started by the first call of redis() (so a test that needs none starts none) and stopped
// after the last test.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>

#include "redis_server.hpp"

namespace ptl_test {
namespace {

std::mutex g_mu;
std::unique_ptr<RedisServer> g_server;

class RedisEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard<std::mutex> lock(g_mu);
    g_server.reset();
  }
};

[[maybe_unused]] const auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new RedisEnvironment);

}  // namespace

RedisServer& redis() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_server) g_server = std::make_unique<RedisServer>();
  return *g_server;
}

}  // namespace ptl_test
