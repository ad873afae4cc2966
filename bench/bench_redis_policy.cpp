// SPDX-License-Identifier: MIT
// ptl-bench-redis-policy: what a policy costs the redis:// server (ADR 15, "### redis://"):
// the server's own time per call (INFO commandstats) and the memory of a limiter's keys
// (MEMORY USAGE), for the day-long limits of the ADR, against a redis-server it starts
// itself with the tests' harness. Plain output, no benchmark library:
//   ptl-bench-redis-policy [CYCLES]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "../tests/redis/redis_server.hpp"
#include "core/limiter_backend.hpp"
#include "registry/registry_backend.hpp"

namespace {

using namespace ptl;
constexpr core::Nanos kDay = core::Nanos{86'400} * 1'000'000'000;

// usec_per_call of the limiter code (FCALL, or EVALSHA where functions are refused) since
// the last reset, and resets it.
double fcall_us(ptl_test::RedisClient& c) {
  const std::string s = c.command({"INFO", "commandstats"});
  c.command({"CONFIG", "RESETSTAT"});
  for (const char* cmd : {"cmdstat_fcall:", "cmdstat_evalsha:"}) {
    const size_t at = s.find(cmd);
    if (at == std::string::npos) continue;
    const size_t u = s.find("usec_per_call=", at);
    return std::atof(s.c_str() + u + 14);
  }
  std::fprintf(stderr, "no limiter calls in: %s\n", s.substr(0, 400).c_str());
  return -1;
}

long memory(ptl_test::RedisClient& c, const std::string& key) {
  return std::atol(c.command({"MEMORY", "USAGE", key, "SAMPLES", "0"}).c_str());
}

void report(ptl_test::RedisClient& c, const std::string& name) {
  long total = 0;
  std::printf("  keys:");
  for (const char* k : {"s", "2h", "2o", "2r", "2rt", "2w"}) {
    const long m = memory(c, "{bench:" + name + "}:" + k);
    total += m;
    if (m > 0) std::printf(" %s %ld B,", k, m);
  }
  std::printf(" total %ld B\n", total);
}

void run(core::RegistryBackend& reg, ptl_test::RedisClient& c, const std::string& name,
         const core::PolicySpec& p, int cycles, uint64_t tokens) {
  reg.register_limiter(name, p, true);
  core::LimiterPtr lim = reg.get(name);
  const std::string unit = "tokens";
  const core::UnitAmount a{unit, tokens};
  const core::Demand d{tokens != 0 ? &a : nullptr, tokens != 0 ? size_t{1} : 0, false};
  core::PermitId permit = 0;
  fcall_us(c);
  for (int i = 0; i < cycles; ++i) {
    if (lim->acquire(d, 0, &permit) != core::Status::kOk) std::abort();
    lim->release(permit, std::nullopt);
  }
  std::printf("%s: %.2f us of server time per call (acquire and release alike, %d each)\n",
              name.c_str(), fcall_us(c), cycles);
  report(c, name);
}

}  // namespace

int main(int argc, char** argv) {
  const int cycles = argc > 1 ? std::atoi(argv[1]) : 5000;
  ptl_test::RedisServer server;
  ptl_test::RedisClient c(server.port());
  auto reg = core::RegistryBackend::open(server.uri("prefix=bench"));
  core::PolicySpec requests;
  requests.limits = {{"requests", 10'000, kDay}};
  run(*reg, c, "requests_per_day", requests, cycles, 0);
  core::PolicySpec both;
  both.limits = {{"requests", 10'000, kDay}, {"tokens", 2'000'000, kDay}};
  run(*reg, c, "requests_and_tokens_per_day", both, cycles, 150);
  // A full log: 1025 entries, as a day-long window holds when its grants come at least
  // 84 s apart. Entries are window/1024 apart whatever the window, so a 1.025 s window
  // filled over 1.1 s has the same log; then a blocked check walks all of it.
  core::PolicySpec full;
  full.limits = {{"tokens", 2'000'000, 1'025'000'000}};
  reg->register_limiter("full_log", full, true);
  core::LimiterPtr lim = reg->get("full_log");
  const std::string unit = "tokens";
  core::PermitId p = 0;
  for (int i = 0; i < 1100; ++i) {
    const core::UnitAmount a{unit, 1000};
    if (lim->acquire(core::Demand{&a, 1, false}, 0, &p) != core::Status::kOk) std::abort();
    lim->release(p, std::nullopt);
    std::this_thread::sleep_for(std::chrono::microseconds(1050));
  }
  std::printf("full_log: %llu entries' worth of use\n",
              static_cast<unsigned long long>(lim->usage("tokens", 1'025'000'000).used / 1000));
  report(c, "full_log");
  fcall_us(c);
  const core::UnitAmount big{unit, 2'000'000};
  for (int i = 0; i < 200; ++i) {
    core::Nanos retry = 0;
    if (lim->try_acquire(core::Demand{&big, 1, false}, &p, &retry) != core::Status::kAgain) {
      std::abort();
    }
  }
  std::printf("full_log: %.2f us of server time per refused try (walks the log)\n", fcall_us(c));
  return 0;
}
