// SPDX-License-Identifier: MIT
// ptl-bench: the local backend's figures of the performance targets, each measured
// in the same run as the baseline it is judged against.
//
//   acqrel/conc/*     acquire+release, concurrency limit only (never full), 1 and 2
//                     threads on ONE shared limiter: floor, hand-written, core, C ABI.
//   acqrel/window/*   the same with a sliding window that never blocks but runs on every
//                     call, of a size the lock-free path serves; acqrel/largewindow/*
//                     with one too large for it (the locked path); acqrel/policy3/* a
//                     policy of 3 limits.
//   lateness/capi     how late a blocked acquire returns after the window frees, next
//                     to a plain sleep_until to the same kind of deadline.
//   idle_memory/*     bytes and time to register 1,000,000 idle limiters.
//   exec/*, makespan/*  the batch executors (bench_batch.hpp).
//
// Every throughput figure is items_per_second over wall time (UseRealTime), so the
// 2-thread rows are the aggregate rate of both threads; cpu_wait_pct and steal_pct say
// whether the threads really had a CPU each. bench/run.sh turns the JSON output into
// the target table.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <pocketflow_throttled/ptl.h>

#include "baselines/atomic_floor.hpp"
#include "baselines/handwritten_limiter.hpp"
#include "bench_batch.hpp"
#include "core/local_limiter.hpp"
#include "registry/local/local_registry.hpp"

namespace {

namespace core = ptl::core;
using ptl::bench::AtomicFloor;
using ptl::bench::HandwrittenLimiter;
using Clock = std::chrono::steady_clock;

// Well above the thread count, so no acquire of the throughput rows ever waits.
constexpr uint32_t kMaxConcurrent = 64;

// Which window a throughput subject has. Both "never block, but the window path runs on
// every call": every grant also replaces or evicts an old one, as in a saturated
// long-running limiter, so the log or ring keeps a steady size.
enum class Window {
  kNone,
  // The window the design's target is about: one the lock-free path serves (at most
  // WindowRing::kMaxSlots requests; ADR 22). 4096 per 50 us = 82 M grants per second of
  // room, far above what two threads reach, and the hand-written deque holds 4096 entries.
  kRing,
  // A window too large for the ring (1e12 per 10 ms): the locked path and its log. With
  // 60 s instead, the hand-written deque would only grow (16 B per grant, hundreds of MB
  // per run).
  kLarge,
};

uint64_t window_count(Window w) {
  return w == Window::kRing ? 4096 : w == Window::kLarge ? 1'000'000'000'000 : 0;
}
double window_seconds(Window w) {
  return w == Window::kRing ? 50e-6 : 0.01;
}

// The policy row's windows: as large as kLarge, the tokens limit has no ring either.
constexpr uint64_t kHugeWindowCount = 1'000'000'000'000;
constexpr double kWindowSeconds = 0.01;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---- subjects: one acquire+release cycle each ---------------------------------------

struct FloorSubject {
  explicit FloorSubject(Window /*window*/) : floor(kMaxConcurrent) {}
  bool cycle() {
    if (!floor.try_acquire()) return false;
    floor.release();
    return true;
  }
  AtomicFloor floor;
};

struct HandwrittenSubject {
  explicit HandwrittenSubject(Window window)
      : limiter(kMaxConcurrent, window_count(window),
                std::chrono::nanoseconds(static_cast<int64_t>(window_seconds(window) * 1e9))) {}
  bool cycle() {
    limiter.acquire();
    limiter.release();
    return true;
  }
  HandwrittenLimiter limiter;
};

core::BasicConfig core_config(Window window) {
  core::BasicConfig cfg;
  cfg.max_concurrent = kMaxConcurrent;
  if (window != Window::kNone) {
    cfg.max_per_window = window_count(window);
    cfg.window_seconds = window_seconds(window);
  }
  cfg.validate();
  return cfg;
}

// Called through the concrete (final) type, so the call is direct: the core's own cost.
// The C ABI adds its checks and a virtual call through the LimiterBackend interface.
struct CoreSubject {
  explicit CoreSubject(Window window) : limiter(core_config(window)) {}
  bool cycle() {
    core::PermitId permit;
    if (limiter.acquire(core::Demand{}, -1, &permit) != core::Status::kOk) return false;
    limiter.release(permit, std::nullopt);
    return true;
  }
  core::LocalLimiter limiter;
};

// The policy of 3 limits of the policy target (requests and tokens per window, requests per
// day; at most 1.5x the one-window figure) plus the concurrency limit of the one-window
// subject, so the two differ only by two windows and the tokens amount.
core::PolicySpec three_limit_policy() {
  constexpr core::Nanos kDay = core::Nanos{86'400} * 1'000'000'000;
  const auto window = static_cast<core::Nanos>(kWindowSeconds * 1e9);
  core::PolicySpec p;
  p.limits = {{"requests", kMaxConcurrent, 0},
              {"requests", kHugeWindowCount, window},
              {"tokens", kHugeWindowCount, window},
              {"requests", kHugeWindowCount, kDay}};
  p.validate();
  return p;
}

struct CorePolicySubject {
  explicit CorePolicySubject(Window /*window*/) : limiter(three_limit_policy()) {}
  bool cycle() {
    const core::UnitAmount tokens{"tokens", 100};
    core::PermitId permit;
    if (limiter.acquire(core::Demand{&tokens, 1}, -1, &permit) != core::Status::kOk) return false;
    limiter.release(permit, std::nullopt);
    return true;
  }
  core::LocalLimiter limiter;
};

ptl_limiter* make_capi_limiter(const core::PolicySpec& p);

struct CapiPolicySubject {
  explicit CapiPolicySubject(Window /*window*/)
      : limiter(make_capi_limiter(three_limit_policy())) {}
  ~CapiPolicySubject() { ptl_limiter_unref(limiter); }
  CapiPolicySubject(const CapiPolicySubject&) = delete;
  CapiPolicySubject& operator=(const CapiPolicySubject&) = delete;
  bool cycle() {
    const ptl_amount tokens{"tokens", 100};
    ptl_permit permit;
    if (ptl_acquire_amounts(limiter, &tokens, 1, -1, &permit) != PTL_OK) return false;
    return ptl_release(limiter, permit) == PTL_OK;
  }
  ptl_limiter* limiter = nullptr;
};

ptl_limiter_config capi_config(Window window) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = kMaxConcurrent;
  if (window != Window::kNone) {
    cfg.max_per_window = window_count(window);
    cfg.window_seconds = window_seconds(window);
  }
  return cfg;
}

struct CapiSubject {
  explicit CapiSubject(Window window) {
    const ptl_limiter_config cfg = capi_config(window);
    if (ptl_limiter_create(&cfg, &limiter) != PTL_OK) throw std::runtime_error(ptl_last_error());
  }
  ~CapiSubject() { ptl_limiter_unref(limiter); }
  CapiSubject(const CapiSubject&) = delete;
  CapiSubject& operator=(const CapiSubject&) = delete;
  bool cycle() {
    ptl_permit permit;
    if (ptl_acquire(limiter, -1, &permit) != PTL_OK) return false;
    return ptl_release(limiter, permit) == PTL_OK;
  }
  ptl_limiter* limiter = nullptr;
};

// ---- is the machine giving us the CPUs? ---------------------------------------------

// On a shared 2-CPU machine a 2-thread run may have had only one CPU for its threads
// (another process held the other, or the hypervisor did); such a run measures no
// contention at all. These two figures let run.sh tell those runs apart.

// Time this thread spent runnable but waiting for a CPU (schedstat's run_delay), in ns;
// -1 if the kernel does not say. Time blocked on a lock is not in it.
int64_t thread_run_delay_ns() {
  std::FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return -1;
  long long run = 0;
  long long delay = 0;
  const int n = std::fscanf(f, "%lld %lld", &run, &delay);
  std::fclose(f);
  return n == 2 ? delay : -1;
}

// Clock ticks the hypervisor gave this machine's CPUs to someone else, summed over the
// CPUs (/proc/stat, "steal"); -1 if unknown.
int64_t steal_ticks() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  long long v[8] = {};
  const int n = std::fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
                            &v[3], &v[4], &v[5], &v[6], &v[7]);
  std::fclose(f);
  return n == 8 ? v[7] : -1;
}

// Measures around one thread's benchmark loop and reports, as percentages of the wall
// time, how long this run's threads waited for a CPU (averaged over threads) and how
// much of the machine was stolen (thread 0 only; counters of threads are summed).
class CpuAvailability {
 public:
  explicit CpuAvailability(const benchmark::State& state)
      : thread0_(state.thread_index() == 0),
        delay0_(thread_run_delay_ns()),
        steal0_(thread0_ ? steal_ticks() : -1),
        t0_(now_ns()) {}

  void report(benchmark::State& state) const {
    const double wall = static_cast<double>(now_ns() - t0_);
    const int64_t delay1 = thread_run_delay_ns();
    if (wall <= 0) return;
    if (delay0_ >= 0 && delay1 >= 0) {
      state.counters["cpu_wait_pct"] = benchmark::Counter(
          100.0 * static_cast<double>(delay1 - delay0_) / wall, benchmark::Counter::kAvgThreads);
    }
    const int64_t steal1 = thread0_ ? steal_ticks() : -1;
    if (steal0_ >= 0 && steal1 >= 0) {
      const double tick_ns = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
      const double cpus = std::max(1u, std::thread::hardware_concurrency());
      state.counters["steal_pct"] =
          100.0 * static_cast<double>(steal1 - steal0_) * tick_ns / (wall * cpus);
    }
  }

 private:
  bool thread0_;
  int64_t delay0_;
  int64_t steal0_;
  int64_t t0_;
};

// ---- acquire+release throughput -----------------------------------------------------

// One instance per run, made in Setup (before the benchmark's threads start) so every
// thread of a run works on the same limiter and may read the pointer before its loop.
template <class Subject>
struct Shared {
  static inline std::unique_ptr<Subject> instance;
};

template <class Subject, Window kWindow>
void setup_subject(const benchmark::State& /*state*/) {
  Shared<Subject>::instance = std::make_unique<Subject>(kWindow);
}

template <class Subject>
void teardown_subject(const benchmark::State& /*state*/) {
  Shared<Subject>::instance.reset();
}

template <class Subject>
void bm_acquire_release(benchmark::State& state) {
  Subject& subject = *Shared<Subject>::instance;
  const CpuAvailability cpu(state);
  for (auto _ : state) {
    if (!subject.cycle()) {
      state.SkipWithError("acquire failed: the limiter should never be full here");
      break;
    }
  }
  cpu.report(state);
  state.SetItemsProcessed(state.iterations());
}

template <class Subject, Window kWindow>
void register_acquire_release(const std::string& name) {
  benchmark::RegisterBenchmark(name.c_str(), bm_acquire_release<Subject>)
      ->Setup(setup_subject<Subject, kWindow>)
      ->Teardown(teardown_subject<Subject>)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
}

// ---- grant lateness -----------------------------------------------------------------

constexpr int64_t kLatenessWindowNs = 2'000'000;  // 1 grant per 2 ms
constexpr int kLatenessSamples = 300;             // of each kind
constexpr int kLatenessBlocks = 30;               // alternating, so drift hits both alike

// Nearest-rank percentile of a sorted sample.
double percentile(const std::vector<int64_t>& sorted, double p) {
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<size_t>(rank, 1) - 1]);
}

// Lateness = (when acquire returned) - (when the window freed room). The limiter frees
// room at exactly its previous grant's time + window + 1 ns, but that grant time is
// internal, so the caller's clock read right after the previous acquire returned stands
// in for it. That read comes after the grant (unlock, return through the C ABI, the
// read itself: a few hundred ns at most), so the deadline is placed that much late and
// each sample understates the lateness by as much, under 0.5% of a lateness near
// 100 us. The sleep_until chain below has no such error: its deadline is its own.
void limiter_block(ptl_limiter* limiter, int samples, std::vector<int64_t>& out) {
  ptl_permit permit;
  // The first acquire of a block starts the chain; its own lateness is not a sample.
  if (ptl_acquire(limiter, -1, &permit) != PTL_OK) throw std::runtime_error(ptl_last_error());
  int64_t granted = now_ns();
  ptl_release(limiter, permit);  // concurrency is not what blocks the next acquire
  for (int i = 0; i < samples; ++i) {
    if (ptl_acquire(limiter, -1, &permit) != PTL_OK) throw std::runtime_error(ptl_last_error());
    const int64_t t = now_ns();
    ptl_release(limiter, permit);
    out.push_back(t - (granted + kLatenessWindowNs));
    granted = t;
  }
}

// The same chain with a plain sleep: each deadline is the previous wake + 2 ms.
void sleep_block(int samples, std::vector<int64_t>& out) {
  int64_t woke = now_ns();
  for (int i = 0; i < samples; ++i) {
    const int64_t deadline = woke + kLatenessWindowNs;
    std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(deadline)));
    woke = now_ns();
    out.push_back(woke - deadline);
  }
}

void bm_grant_lateness(benchmark::State& state) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = 1;
  cfg.max_per_window = 1;
  cfg.window_seconds = static_cast<double>(kLatenessWindowNs) / 1e9;
  ptl_limiter* limiter = nullptr;
  if (ptl_limiter_create(&cfg, &limiter) != PTL_OK) {
    state.SkipWithError(ptl_last_error());
    return;
  }
  std::vector<int64_t> limiter_late;
  std::vector<int64_t> sleep_late;
  for (auto _ : state) {
    limiter_late.clear();
    sleep_late.clear();
    for (int b = 0; b < kLatenessBlocks; ++b) {
      limiter_block(limiter, kLatenessSamples / kLatenessBlocks, limiter_late);
      sleep_block(kLatenessSamples / kLatenessBlocks, sleep_late);
    }
  }
  ptl_limiter_unref(limiter);
  std::sort(limiter_late.begin(), limiter_late.end());
  std::sort(sleep_late.begin(), sleep_late.end());
  state.counters["limiter_p50_ns"] = percentile(limiter_late, 0.50);
  state.counters["limiter_p99_ns"] = percentile(limiter_late, 0.99);
  state.counters["sleep_p50_ns"] = percentile(sleep_late, 0.50);
  state.counters["sleep_p99_ns"] = percentile(sleep_late, 0.99);
  state.counters["samples"] = static_cast<double>(limiter_late.size());
}

// ---- memory per idle limiter --------------------------------------------------------

constexpr int kIdleLimiters = 1'000'000;
constexpr size_t kNameStride = 12;  // "lim-%07d" + NUL

// Bytes malloc has handed out: arena chunks (headers included) plus mmapped blocks,
// where the registry's bucket array lands once it outgrows the mmap threshold.
size_t allocated_bytes() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// Formatted before the measurement so neither the bytes nor the time include them.
std::vector<char> idle_names() {
  std::vector<char> names(kIdleLimiters * kNameStride);
  for (int i = 0; i < kIdleLimiters; ++i) {
    std::snprintf(&names[static_cast<size_t>(i) * kNameStride], kNameStride, "lim-%07d", i);
  }
  return names;
}

void report_idle(benchmark::State& state, size_t before, size_t after, int64_t elapsed_ns) {
  state.counters["bytes_per_limiter"] =
      static_cast<double>(after - before) / static_cast<double>(kIdleLimiters);
  state.counters["register_seconds"] = static_cast<double>(elapsed_ns) / 1e9;
}

void bm_idle_memory_core(benchmark::State& state) {
  const std::vector<char> names = idle_names();
  const core::PolicySpec cfg =
      core::PolicySpec::from_config({});  // defaults: 5 concurrent, no window
  for (auto _ : state) {
    auto registry = std::make_unique<core::LocalRegistry>();
    const size_t before = allocated_bytes();
    const int64_t t0 = now_ns();
    for (size_t i = 0; i < kIdleLimiters; ++i) {
      registry->register_limiter(std::string_view(&names[i * kNameStride]), cfg, false);
    }
    const int64_t t1 = now_ns();
    report_idle(state, before, allocated_bytes(), t1 - t0);
    state.PauseTiming();  // tearing down is not what the target is about
    registry.reset();
    state.ResumeTiming();
  }
}

void bm_idle_memory_capi(benchmark::State& state) {
  const std::vector<char> names = idle_names();
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  for (auto _ : state) {
    ptl_registry* registry = nullptr;
    if (ptl_registry_open("local:", &registry) != PTL_OK) {
      state.SkipWithError(ptl_last_error());
      return;
    }
    const size_t before = allocated_bytes();
    const int64_t t0 = now_ns();
    for (size_t i = 0; i < kIdleLimiters; ++i) {
      if (ptl_registry_register(registry, &names[i * kNameStride], &cfg, 0) != PTL_OK) {
        state.SkipWithError(ptl_last_error());
        break;
      }
    }
    const int64_t t1 = now_ns();
    report_idle(state, before, allocated_bytes(), t1 - t0);
    state.PauseTiming();
    ptl_registry_close(registry);
    state.ResumeTiming();
  }
}

// ---- memory of a busy limiter -------------------------------------------------------

// Bytes a limiter holds after `grants` acquire+release cycles spread over its windows:
// the window logs are bounded (ADR 15: at most 1025 entries each), whatever the rate.
template <class Make>
void bm_busy_memory(benchmark::State& state, Make make, bool tokens_too) {
  for (auto _ : state) {
    const size_t before = allocated_bytes();
    auto limiter = make();
    const size_t created = allocated_bytes();
    const ptl_amount tokens{"tokens", 100};
    for (int i = 0; i < 100'000; ++i) {
      ptl_permit permit;
      if (ptl_acquire_amounts(limiter, &tokens, tokens_too ? 1 : 0, -1, &permit) != PTL_OK ||
          ptl_release(limiter, permit) != PTL_OK) {
        state.SkipWithError(ptl_last_error());
        break;
      }
      if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    const size_t busy = allocated_bytes();
    state.counters["bytes_created"] = static_cast<double>(created - before);
    state.counters["bytes_busy"] = static_cast<double>(busy - before);
    ptl_limiter_unref(limiter);
  }
}

ptl_limiter* make_capi_limiter(const core::PolicySpec& p) {
  std::vector<ptl_limit> limits;
  for (const core::LimitSpec& l : p.limits) limits.push_back({l.unit.c_str(), l.max, l.window_ns});
  ptl_policy policy;
  ptl_policy_init(&policy);
  policy.n_limits = static_cast<uint32_t>(limits.size());
  policy.limits = limits.data();
  ptl_limiter* lim = nullptr;
  if (ptl_limiter_create_policy(&policy, &lim) != PTL_OK)
    throw std::runtime_error(ptl_last_error());
  return lim;
}

void register_all() {
  register_acquire_release<FloorSubject, Window::kNone>("acqrel/conc/floor");
  register_acquire_release<HandwrittenSubject, Window::kNone>("acqrel/conc/handwritten");
  register_acquire_release<CoreSubject, Window::kNone>("acqrel/conc/core");
  register_acquire_release<CapiSubject, Window::kNone>("acqrel/conc/capi");
  register_acquire_release<HandwrittenSubject, Window::kRing>("acqrel/window/handwritten");
  register_acquire_release<CoreSubject, Window::kRing>("acqrel/window/core");
  register_acquire_release<CapiSubject, Window::kRing>("acqrel/window/capi");
  register_acquire_release<HandwrittenSubject, Window::kLarge>("acqrel/largewindow/handwritten");
  register_acquire_release<CoreSubject, Window::kLarge>("acqrel/largewindow/core");
  register_acquire_release<CorePolicySubject, Window::kLarge>("acqrel/policy3/core");
  register_acquire_release<CapiPolicySubject, Window::kLarge>("acqrel/policy3/capi");
  // A minute's window of requests (the one-window limiter) next to the 3-limit policy
  // with a day's window, and the provider shapes of ADR 15 (10,000 requests and
  // 2,000,000 tokens per day).
  benchmark::RegisterBenchmark(
      "busy_memory/window",
      [](benchmark::State& st) {
        bm_busy_memory(
            st,
            [] {
              core::PolicySpec p = core::PolicySpec::from_config(core_config(Window::kLarge));
              p.limits[1].window_ns = core::Nanos{60} * 1'000'000'000;
              return make_capi_limiter(p);
            },
            false);
      })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("busy_memory/policy3",
                               [](benchmark::State& st) {
                                 bm_busy_memory(
                                     st,
                                     [] {
                                       core::PolicySpec p = three_limit_policy();
                                       p.limits[1].window_ns = p.limits[2].window_ns =
                                           core::Nanos{60} * 1'000'000'000;
                                       return make_capi_limiter(p);
                                     },
                                     true);
                               })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(
      "busy_memory/daily_10k_2m",
      [](benchmark::State& st) {
        bm_busy_memory(
            st,
            [] {
              constexpr core::Nanos kDay = core::Nanos{86'400} * 1'000'000'000;
              core::PolicySpec p;
              p.limits = {{"requests", 10'000'000, kDay}, {"tokens", 2'000'000'000, kDay}};
              return make_capi_limiter(p);
            },
            true);
      })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  // One iteration is one full sample set; repetitions give independent sets.
  benchmark::RegisterBenchmark("lateness/capi", bm_grant_lateness)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("idle_memory/core", bm_idle_memory_core)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("idle_memory/capi", bm_idle_memory_capi)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  ptl::bench::register_batch_overhead();
  ptl::bench::register_batch_makespan();
  ptl::bench::register_abi_overhead();
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
