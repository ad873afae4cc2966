// The GoogleTest environment of the redis:// suites: one redis-server per test process,
// started before the first test and stopped after the last.
#include <gtest/gtest.h>

#include <memory>

#include "redis_server.hpp"

namespace ptl_test {
namespace {

std::unique_ptr<RedisServer> g_server;

class RedisEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { g_server = std::make_unique<RedisServer>(); }
  void TearDown() override { g_server.reset(); }
};

[[maybe_unused]] const auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new RedisEnvironment);

}  // namespace

RedisServer& redis() {
  return *g_server;
}

}  // namespace ptl_test
