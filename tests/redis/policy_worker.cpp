// SPDX-License-Identifier: MIT
// ptl_redis_policy_worker: one process of the multi-process redis:// policy tests (ADR 15).
//
//   ptl_redis_policy_worker hammer URI NAME THREADS GRANTS SEED OUT_FILE
//     THREADS threads each take GRANTS permits of NAME demanding a pseudo-random 1..16
//     tokens, holding each for a pseudo-random 0..400 ms, and write one line per grant to
//     OUT_FILE: "t_granted t_released tokens", times from the Redis server's clock (TIME)
//     taken right after the acquire returned and right before the release, so
//     [t_granted, t_released] lies inside the permit's true holding interval.
//   ptl_redis_policy_worker hold URI NAME TOKENS
//     Takes one permit of TOKENS tokens, prints "held" and sleeps until killed.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>

#include "policy_util.hpp"

namespace {

using namespace ptl_test;

int port_of(const std::string& uri) {
  const std::string base = uri.substr(0, uri.find('?'));
  return std::atoi(base.c_str() + base.rfind(':') + 1);
}

int hammer(const std::string& uri, const std::string& name, int threads, int grants, int seed,
           const std::string& out_file) {
  std::unique_ptr<core::RegistryBackend> reg = open_reg(uri);
  core::LimiterPtr lim = reg->get(name);
  if (!lim) {
    std::fprintf(stderr, "worker: no limiter %s\n", name.c_str());
    return 2;
  }
  std::mutex mu;
  std::vector<std::string> lines;
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(seed * 100 + t));
      RedisClient c(port_of(uri));
      try {
        for (int i = 0; i < grants; ++i) {
          const uint64_t tokens = 1 + rng() % 16;
          const int64_t hold_us = static_cast<int64_t>(rng() % 400'000);
          const Ask ask{{"tokens", tokens}};
          core::PermitId p = 0;
          const core::Status st = lim->acquire(ask, 60 * kPolSec, &p);
          if (st != core::Status::kOk) {
            std::fprintf(stderr, "worker: acquire: %d\n", static_cast<int>(st));
            failed = true;
            return;
          }
          const int64_t granted = c.time_us();
          pol_sleep(hold_us * 1000);
          const int64_t released = c.time_us();
          lim->release(p, std::nullopt);
          std::lock_guard<std::mutex> lock(mu);
          lines.push_back(std::to_string(granted) + " " + std::to_string(released) + " " +
                          std::to_string(tokens));
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worker: %s\n", e.what());
        failed = true;
      }
    });
  }
  for (auto& th : pool) th.join();
  lim.reset();
  reg.reset();
  FILE* f = std::fopen(out_file.c_str(), "w");
  if (f == nullptr) return 2;
  for (const std::string& l : lines) std::fprintf(f, "%s\n", l.c_str());
  std::fclose(f);
  return failed ? 1 : 0;
}

int hold(const std::string& uri, const std::string& name, uint64_t tokens) {
  try {
    std::unique_ptr<core::RegistryBackend> reg = open_reg(uri);
    core::LimiterPtr lim = reg->get(name);
    core::PermitId p = 0;
    const Ask ask{{"tokens", tokens}};
    if (!lim || lim->acquire(ask, 10 * kPolSec, &p) != core::Status::kOk) return 2;
    std::printf("held\n");
    std::fflush(stdout);
    for (;;) pause();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker: hold: %s\n", e.what());
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 7 && a[0] == "hammer") {
    return hammer(a[1], a[2], std::atoi(a[3].c_str()), std::atoi(a[4].c_str()),
                  std::atoi(a[5].c_str()), a[6]);
  }
  if (a.size() == 4 && a[0] == "hold")
    return hold(a[1], a[2], std::strtoull(a[3].c_str(), nullptr, 10));
  std::fprintf(stderr,
               "usage: ptl_redis_policy_worker hammer URI NAME THREADS GRANTS SEED OUT | "
               "hold URI NAME TOKENS\n");
  return 2;
}
