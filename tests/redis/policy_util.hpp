// SPDX-License-Identifier: MIT
// Helpers of the redis:// policy tests (ADR 15). Policies have no C ABI yet in this
// tree, so these tests and their worker drive the core's RegistryBackend and
// LimiterBackend directly (ptl_core, linked statically), against the same real
// redis-server harness.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/limiter_backend.hpp"
#include "core/status.hpp"
#include "redis_server.hpp"
#include "registry/registry_backend.hpp"

namespace ptl_test {

namespace core = ptl::core;

constexpr int64_t kPolMs = 1'000'000;
constexpr int64_t kPolSec = 1'000'000'000;

inline int64_t pol_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void pol_sleep(int64_t ns) {
  std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}

// Polls pred every 10 ms, up to timeout_ns (generous: this is a deadline, not a bound
// the test checks).
inline bool pol_wait_until(const std::function<bool()>& pred, int64_t timeout_ns = 20 * kPolSec) {
  const int64_t end = pol_now_ns() + timeout_ns;
  while (!pred()) {
    if (pol_now_ns() > end) return false;
    pol_sleep(10 * kPolMs);
  }
  return true;
}

inline std::unique_ptr<core::RegistryBackend> open_reg(const std::string& uri) {
  return core::RegistryBackend::open(uri);
}

inline core::PolicySpec make_policy(std::vector<core::LimitSpec> limits) {
  core::PolicySpec p;
  p.limits = std::move(limits);
  return p;
}

// A demand of named amounts; the strings live in the object.
class Ask {
 public:
  Ask(std::initializer_list<std::pair<std::string, uint64_t>> amounts) {
    for (const auto& [unit, amount] : amounts) units_.push_back(unit), values_.push_back(amount);
    for (size_t i = 0; i < units_.size(); ++i) amounts_.push_back({units_[i], values_[i]});
  }
  operator core::Demand() const { return core::Demand{amounts_.data(), amounts_.size(), false}; }

 private:
  std::vector<std::string> units_;
  std::vector<uint64_t> values_;
  std::vector<core::UnitAmount> amounts_;
};

// The status an operation threw (kOk if none).
template <typename Fn>
core::Status status_of(Fn&& fn) {
  try {
    fn();
  } catch (const core::StatusError& e) {
    return e.status();
  }
  return core::Status::kOk;
}

// Waits until `server` has been up for a lease and a second: before that, the limiter
// code gives late sessions another lease instead of reaping them (lua/grants.lua, reap).
inline void settle_server(RedisServer& server, int64_t lease_ns) {
  RedisClient c(server.port());
  for (;;) {
    const std::string info = c.command({"INFO", "server"});
    const size_t at = info.find("uptime_in_seconds:");
    ASSERT_NE(at, std::string::npos);
    if (std::stoll(info.substr(at + 18)) * kPolSec >= lease_ns + kPolSec) return;
    pol_sleep(100 * kPolMs);
  }
}

}  // namespace ptl_test
