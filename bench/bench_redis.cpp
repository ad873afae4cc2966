// SPDX-License-Identifier: MIT
// ptl-bench-redis: the redis:// figures of the performance targets, measured in one run
// against one redis-server (started here on a free loopback port, as the tests do):
//
//   redis/ping              raw hiredis PING, one connection: the round-trip floor.
//   redis/evalsha           raw EVALSHA of a script that returns 1: the yardstick (target >= 0.8x).
//   redis/fcall             raw FCALL of a function that returns 1 (Redis 7 functions).
//   redis/script_acq_rel    raw FCALL of the limiter code itself, acq then rel, with no
//                           library around it: what the code costs the server.
//   redis/script_acq_rel/eval  the same code as a script (EVALSHA), as servers before
//                           7.0 (or users without FUNCTION LOAD) run it.
//   redis/acqrel[/window]   ptl_acquire + ptl_release through the C ABI on a redis://
//                           limiter that never blocks (with a window too large to block).
//   local/acqrel[/window]   the same on local:, side by side.
//   redis/acqrel[/window]/real_time/threads:N   the same limiter shared by N threads of
//                           this process through one registry (section 5: threads:8 >=
//                           4x threads:1); items_per_second is the aggregate of all threads.
//   redis/evalsha/real_time/threads:N  raw EVALSHA of `return 1`, one connection per thread.
//
// Rows without /threads: are one thread; items_per_second = calls (round trips) per second; acqrel
// rows count two calls per iteration; server_us is the server's own time per call. The
// summary at the end gives the target ratio, redis acquire/release calls per second over
// raw EVALSHA calls per second (>= 0.8), against both yardsticks: a script that returns 1
// (the server's floor) and the limiter code itself sent raw (what the library adds). Use
// repetitions with random interleaving on a busy machine:
//   ptl-bench-redis --benchmark_repetitions=6 --benchmark_enable_random_interleaving=true
#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <pocketflow_throttled/ptl.h>

#include "../tests/redis/redis_server.hpp"
#include "registry/redis/keys.hpp"
#include "registry/redis/script.hpp"

namespace {

std::unique_ptr<ptl_test::RedisServer> g_server;  // stopped at the end of main

ptl_test::RedisServer& server() {
  if (!g_server) g_server = std::make_unique<ptl_test::RedisServer>();
  return *g_server;
}

// A raw hiredis connection for the yardsticks.
class Raw {
 public:
  Raw() {
    timeval tv{5, 0};
    c_ = redisConnectWithTimeout("127.0.0.1", server().port(), tv);
    if (c_ == nullptr || c_->err != 0) throw std::runtime_error("cannot connect");
  }
  ~Raw() { redisFree(c_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  std::string call(const std::vector<std::string>& argv) {
    std::vector<const char*> w;
    std::vector<size_t> l;
    for (const std::string& a : argv) {
      w.push_back(a.data());
      l.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), w.data(), l.data()));
    if (r == nullptr) throw std::runtime_error("connection lost");
    std::string out;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) out.assign(r->str, r->len);
    if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(std::string(r->str, r->len));
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 1 &&
        r->element[1]->type == REDIS_REPLY_INTEGER) {
      out = std::to_string(r->element[1]->integer);
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 1 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
      out.assign(r->element[1]->str, r->element[1]->len);  // {'stale', POLICY}
    }
    freeReplyObject(r);
    return out;
  }

 private:
  redisContext* c_;
};

void calls_per_second(benchmark::State& state, int calls_per_iteration) {
  state.SetItemsProcessed(state.iterations() * calls_per_iteration);
}

// The server's own time per call, in the counter server_us (INFO commandstats of PING,
// EVALSHA and FCALL, reset when made): a busy machine disturbs it much less than the
// round trip, so it shows what the code costs the server. server_cpu_us is the server
// process's CPU time per call (INFO cpu), which adds what commandstats leaves out: its
// reads, writes and event loop per call, which batches share; client_cpu_us is this
// process's. On a machine shared with other work, CPU per call shows a change that the
// calls per second hide in noise.
class ServerTime {
 public:
  ServerTime() {
    raw_.call({"CONFIG", "RESETSTAT"});
    server_cpu0_ = server_cpu();
    client_cpu0_ = client_cpu();
  }
  void report(benchmark::State& state) {
    const double client = client_cpu() - client_cpu0_;
    const double srv = server_cpu() - server_cpu0_;
    const std::string info = raw_.call({"INFO", "commandstats"});
    double calls = 0;
    double usec = 0;
    for (const char* cmd : {"cmdstat_ping:", "cmdstat_evalsha:", "cmdstat_fcall:"}) {
      const size_t at = info.find(cmd);
      if (at == std::string::npos) continue;
      calls += std::strtod(info.c_str() + info.find("calls=", at) + 6, nullptr);
      usec += std::strtod(info.c_str() + info.find("usec=", at) + 5, nullptr);
    }
    if (calls > 0) {
      state.counters["server_us"] = usec / calls;
      state.counters["server_cpu_us"] = srv * 1e6 / calls;
      state.counters["client_cpu_us"] = client * 1e6 / calls;
    }
  }

 private:
  // Seconds of CPU the server has used, user and system, all its threads.
  double server_cpu() {
    const std::string info = raw_.call({"INFO", "cpu"});
    double total = 0;
    for (const char* field : {"used_cpu_sys:", "used_cpu_user:"}) {
      const size_t at = info.find(field);
      if (at != std::string::npos)
        total += std::strtod(info.c_str() + at + std::strlen(field), nullptr);
    }
    return total;
  }
  // Seconds of CPU this process has used, every thread.
  static double client_cpu() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }

  Raw raw_;
  double server_cpu0_ = 0;
  double client_cpu0_ = 0;
};

void BM_Ping(benchmark::State& state) {
  Raw raw;
  ServerTime server;
  for (auto _ : state) raw.call({"PING"});
  calls_per_second(state, 1);
  server.report(state);
}

void BM_Evalsha(benchmark::State& state) {
  Raw raw;
  const std::string sha = raw.call({"SCRIPT", "LOAD", "return 1"});
  ServerTime server;
  for (auto _ : state) raw.call({"EVALSHA", sha, "0"});
  calls_per_second(state, 1);
  server.report(state);
}

void BM_Fcall(benchmark::State& state) {
  Raw raw;
  raw.call({"FUNCTION", "LOAD", "REPLACE",
            "#!lua name=ptl_bench\nredis.register_function('ptl_bench_one', function() return 1 "
            "end)"});
  ServerTime server;
  for (auto _ : state) raw.call({"FCALL", "ptl_bench_one", "0"});
  calls_per_second(state, 1);
  server.report(state);
}

// The limiter code's own cost: the same calls the library makes, without it. As a
// function (FCALL), what the library uses on Redis 7, or as a script (EVALSHA). The
// limiter is registered through the library; the calls use its keys (keys.hpp) and the
// policy version the code reports when asked with none.
void script_acq_rel(benchmark::State& state, bool functions) {
  ptl_registry* reg = nullptr;
  if (ptl_registry_open(server().uri().c_str(), &reg) != PTL_OK) {
    state.SkipWithError(ptl_last_error());
    return;
  }
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = 1'000'000;
  ptl_registry_register(reg, "bench-raw", &cfg, PTL_REPLACE);
  Raw raw;
  std::string command = "FCALL";
  std::string code(ptl::core::redis::limiter_function());
  if (functions) {
    raw.call({"FUNCTION", "LOAD", "REPLACE", std::string(ptl::core::redis::limiter_library())});
  } else {
    command = "EVALSHA";
    code = raw.call({"SCRIPT", "LOAD", std::string(ptl::core::redis::limiter_script())});
  }
  const ptl::core::redis::Keys keys("ptl", "bench-raw", 0);
  auto eval = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {command, code, std::to_string(keys.keys.size())};
    argv.insert(argv.end(), keys.keys.begin(), keys.keys.end());
    argv.push_back(args[0]);
    argv.push_back(keys.channel);
    argv.emplace_back("bench-raw-session");
    argv.emplace_back("30000000");
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return raw.call(argv);
  };
  // "PV SH CW N ...": a stale version gets the policy back; one charge per limit.
  std::istringstream policy(eval({"acq", "-1", ""}));
  std::string version;
  std::string shorthand;
  std::string window;
  size_t limits = 0;
  policy >> version >> shorthand >> window >> limits;
  std::vector<std::string> acq = {"acq", version, ""};
  for (size_t i = 0; i < limits; ++i) acq.emplace_back("1");
  ServerTime server;
  for (auto _ : state) {
    const std::string grant = eval(acq);
    eval({"rel", grant, "", ""});
  }
  calls_per_second(state, 2);
  server.report(state);
  ptl_registry_remove(reg, "bench-raw");
  ptl_registry_close(reg);
}

void BM_ScriptAcqRel(benchmark::State& state) {
  script_acq_rel(state, true);
}
void BM_ScriptAcqRelEval(benchmark::State& state) {
  script_acq_rel(state, false);
}

void acqrel(benchmark::State& state, const std::string& uri, uint64_t per_window) {
  ptl_registry* reg = nullptr;
  if (ptl_registry_open(uri.c_str(), &reg) != PTL_OK) {
    state.SkipWithError(ptl_last_error());
    return;
  }
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = 64;
  cfg.max_per_window = per_window;
  cfg.window_seconds = 1.0;
  ptl_limiter* lim = nullptr;
  ptl_registry_register(reg, "bench", &cfg, PTL_REPLACE);
  ptl_registry_get(reg, "bench", &lim);
  std::optional<ServerTime> server;
  if (uri.starts_with("redis")) server.emplace();
  for (auto _ : state) {
    ptl_permit p;
    if (ptl_acquire(lim, -1, &p) != PTL_OK || ptl_release(lim, p) != PTL_OK) {
      state.SkipWithError(ptl_last_error());
      break;
    }
  }
  calls_per_second(state, 2);
  if (server) server->report(state);
  ptl_limiter_unref(lim);
  ptl_registry_remove(reg, "bench");
  ptl_registry_close(reg);
}

constexpr uint64_t kNeverFull = 1'000'000'000'000;

// The threads:N rows: one registry and limiter for all N threads, made by Setup before
// the threads start and closed by Teardown after they end, so every thread calls the
// same limiter through the same registry (its connections), as a server process would.
struct Shared {
  ptl_registry* reg = nullptr;
  ptl_limiter* lim = nullptr;
  std::optional<ServerTime> server;
};
Shared g_shared;

void shared_setup(uint64_t per_window) {
  if (ptl_registry_open(server().uri().c_str(), &g_shared.reg) != PTL_OK) return;
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = 64;  // more than the threads: nobody ever waits
  cfg.max_per_window = per_window;
  cfg.window_seconds = 1.0;
  ptl_registry_register(g_shared.reg, "bench-mt", &cfg, PTL_REPLACE);
  ptl_registry_get(g_shared.reg, "bench-mt", &g_shared.lim);
  g_shared.server.emplace();
}

void shared_teardown(const benchmark::State&) {
  g_shared.server.reset();
  ptl_limiter_unref(g_shared.lim);
  g_shared.lim = nullptr;
  if (g_shared.reg != nullptr) ptl_registry_remove(g_shared.reg, "bench-mt");
  ptl_registry_close(g_shared.reg);
  g_shared.reg = nullptr;
}

void BM_RedisAcqRelThreads(benchmark::State& state) {
  if (g_shared.lim == nullptr) {
    state.SkipWithError("no limiter");
    return;
  }
  for (auto _ : state) {
    ptl_permit p;
    if (ptl_acquire(g_shared.lim, -1, &p) != PTL_OK || ptl_release(g_shared.lim, p) != PTL_OK) {
      state.SkipWithError(ptl_last_error());
      break;
    }
  }
  calls_per_second(state, 2);
  // Counters are summed over the threads: only one reports the server's time. Every
  // thread has left the timed loop here (Google Benchmark stops them together).
  if (state.thread_index() == 0) g_shared.server->report(state);
}

void BM_EvalshaThreads(benchmark::State& state) {
  Raw raw;
  const std::string sha = raw.call({"SCRIPT", "LOAD", "return 1"});
  for (auto _ : state) raw.call({"EVALSHA", sha, "0"});
  calls_per_second(state, 1);
}

void BM_RedisAcqRel(benchmark::State& state) {
  acqrel(state, server().uri(), 0);
}
void BM_RedisAcqRelWindow(benchmark::State& state) {
  acqrel(state, server().uri(), kNeverFull);
}
void BM_LocalAcqRel(benchmark::State& state) {
  acqrel(state, "local:", 0);
}
void BM_LocalAcqRelWindow(benchmark::State& state) {
  acqrel(state, "local:", kNeverFull);
}

BENCHMARK(BM_Ping)->Name("redis/ping")->UseRealTime();
BENCHMARK(BM_Evalsha)->Name("redis/evalsha")->UseRealTime();
BENCHMARK(BM_Fcall)->Name("redis/fcall")->UseRealTime();
BENCHMARK(BM_ScriptAcqRel)->Name("redis/script_acq_rel")->UseRealTime();
BENCHMARK(BM_ScriptAcqRelEval)->Name("redis/script_acq_rel/eval")->UseRealTime();
BENCHMARK(BM_RedisAcqRel)->Name("redis/acqrel")->UseRealTime();
BENCHMARK(BM_RedisAcqRelWindow)->Name("redis/acqrel/window")->UseRealTime();
BENCHMARK(BM_RedisAcqRelThreads)
    ->Name("redis/acqrel")
    ->Setup([](const benchmark::State&) { shared_setup(0); })
    ->Teardown(shared_teardown)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();
BENCHMARK(BM_RedisAcqRelThreads)
    ->Name("redis/acqrel/window")
    ->Setup([](const benchmark::State&) { shared_setup(kNeverFull); })
    ->Teardown(shared_teardown)
    ->Threads(1)
    ->Threads(8)
    ->UseRealTime();
BENCHMARK(BM_EvalshaThreads)->Name("redis/evalsha")->Threads(8)->UseRealTime();
BENCHMARK(BM_LocalAcqRel)->Name("local/acqrel")->UseRealTime();
BENCHMARK(BM_LocalAcqRelWindow)->Name("local/acqrel/window")->UseRealTime();

// Prints the usual table, then the section-5 ratio from the same run.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const auto it = r.counters.find("items_per_second");
      if (it == r.counters.end()) continue;
      // One run, or the median of repetitions (--benchmark_repetitions).
      if (r.run_type == Run::RT_Iteration || r.aggregate_name == "median") {
        rates_[r.run_name.str()] = it->second.value;
        for (const char* c : {"server_us", "server_cpu_us", "client_cpu_us"}) {
          const auto v = r.counters.find(c);
          if (v != r.counters.end()) counters_[c][r.run_name.str()] = v->second.value;
        }
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Summary() const {
    OneThread();
    Threads();
  }

 private:
  void OneThread() const {
    const double evalsha = rate("redis/evalsha/real_time");
    const double script = rate("redis/script_acq_rel/real_time");
    if (evalsha <= 0 || script <= 0) return;
    std::printf(
        "\nredis calls per second (one thread), relative to raw EVALSHA of the same server:\n");
    std::printf("  %-36s %10s  %12s  %15s  %15s\n", "", "calls/s", "vs return-1", "vs same script",
                "server us/call");
    for (const char* name :
         {"redis/ping/real_time", "redis/evalsha/real_time", "redis/fcall/real_time",
          "redis/script_acq_rel/real_time", "redis/script_acq_rel/eval/real_time",
          "redis/acqrel/real_time", "redis/acqrel/window/real_time"}) {
      std::printf("  %-36s %10.0f  %11.2fx  %14.2fx  %15.2f\n", name, rate(name),
                  rate(name) / evalsha, rate(name) / script, counter("server_us", name));
    }
    std::printf(
        "target: redis/acqrel >= 0.80x of raw EVALSHA (one round trip per acquire and "
        "per release)\n");
  }

  void Threads() const {
    if (rate("redis/acqrel/real_time/threads:1") <= 0) return;
    std::printf("\nredis calls per second, threads of one process on one limiter:\n");
    std::printf("  %-40s %10s  %12s  %15s  %14s  %14s\n", "", "calls/s", "vs threads:1",
                "server us/call", "server CPU us", "client CPU us");
    for (const char* base : {"redis/acqrel/real_time", "redis/acqrel/window/real_time"}) {
      const double one = rate(std::string(base) + "/threads:1");
      for (const char* n : {"/threads:1", "/threads:8"}) {
        const std::string name = std::string(base) + n;
        std::printf("  %-40s %10.0f  %11.2fx  %15.2f  %14.2f  %14.2f\n", name.c_str(), rate(name),
                    one > 0 ? rate(name) / one : 0.0, counter("server_us", name),
                    counter("server_cpu_us", name), counter("client_cpu_us", name));
      }
    }
    std::printf("  %-40s %10.0f\n", "redis/evalsha/real_time/threads:8",
                rate("redis/evalsha/real_time/threads:8"));
    std::printf("target: threads:8 >= 4x threads:1\n");
  }

  double rate(const std::string& name) const {
    const auto it = rates_.find(name);
    return it == rates_.end() ? 0 : it->second;
  }
  double counter(const std::string& counter, const std::string& name) const {
    const auto c = counters_.find(counter);
    if (c == counters_.end()) return 0;
    const auto it = c->second.find(name);
    return it == c->second.end() ? 0 : it->second;
  }
  std::map<std::string, double> rates_;
  std::map<std::string, std::map<std::string, double>> counters_;  // counter -> run -> value
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  server();  // started before the first measurement
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.Summary();
  benchmark::Shutdown();
  g_server.reset();
  return 0;
}
