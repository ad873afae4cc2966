// SPDX-License-Identifier: MIT
// Helpers of the redis:// suites: registries on the test server, and the C ABI helpers of
// tests/capi (configs, RAII handles, stats, polling), which apply unchanged.
#pragma once

#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <string>

#include "capi_util.hpp"
#include "redis_server.hpp"

namespace ptl_test {

// A registry on this process's test server, closed at scope exit.
class RedisReg {
 public:
  explicit RedisReg(const std::string& query = "") : RedisReg(redis().uri(query), true) {}
  RedisReg(const std::string& uri, bool) {
    const int rc = ptl_registry_open(uri.c_str(), &r_);
    EXPECT_EQ(rc, PTL_OK) << uri << ": " << ptl_last_error();
  }
  RedisReg(const RedisReg&) = delete;
  RedisReg& operator=(const RedisReg&) = delete;
  ~RedisReg() { ptl_registry_close(r_); }
  operator ptl_registry*() const { return r_; }

 private:
  ptl_registry* r_ = nullptr;
};

// Registers `name` on reg and returns a handle to it.
inline Lim redis_limiter(ptl_registry* reg, const char* name, const ptl_limiter_config& cfg) {
  EXPECT_EQ(ptl_registry_register(reg, name, &cfg, PTL_REPLACE), PTL_OK) << ptl_last_error();
  Lim lim;
  EXPECT_EQ(ptl_registry_get(reg, name, lim.out()), PTL_OK) << ptl_last_error();
  return lim;
}

// Waits until `server` has been up for a lease and a second: before that, the limiter
// code cannot tell a process that died from one that a restart cut off, and gives late
// sessions another lease (lua/common.lua, reap). Tests that time a reclaim start after.
inline void let_server_settle(RedisServer& server, int64_t lease_ns) {
  RedisClient c(server.port());
  for (;;) {
    const std::string info = c.command({"INFO", "server"});
    const size_t at = info.find("uptime_in_seconds:");
    ASSERT_NE(at, std::string::npos) << "no uptime in INFO: " << info;
    const int64_t uptime_s = std::stoll(info.substr(at + 18));
    if (uptime_s * kSec >= lease_ns + kSec) return;
    sleep_ns(100 * kMs);
  }
}

// How many processes (sessions of registries) are connected to `server` now.
inline size_t connected_sessions(RedisServer& server) {
  RedisClient c(server.port());
  const std::string channels = c.command({"PUBSUB", "CHANNELS", "ptl-session:*"});
  size_t n = 0;
  for (size_t at = channels.find("ptl-session:"); at != std::string::npos;
       at = channels.find("ptl-session:", at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace ptl_test
