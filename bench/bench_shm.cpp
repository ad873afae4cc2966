// SPDX-License-Identifier: MIT
// ptl-bench-shm: shm:// acquire+release next to the local backend, in one run, through
// the C ABI users call (the performance target: shm acquire+release, 1 process <= 2x local).
//
//   backend/<backend>/conc    acquire+release, concurrency limit only (never full)
//   backend/<backend>/window  the same with a sliding window too large ever to block,
//                             so the window path (clock, log, eviction) runs every call
//   backend/<backend>/policy3 the policy of 3 limits of the policy target (requests and tokens per
//                             window, requests per day) plus the concurrency limit, 100
//                             tokens a grant: what a policy adds on each backend
// each with 1 and 2 threads on ONE limiter; items_per_second over wall time.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>
#include <pocketflow_throttled/ptl.h>

namespace {

constexpr uint32_t kMaxConcurrent = 64;
constexpr uint64_t kHugeWindowCount = 1'000'000'000'000;
constexpr double kWindowSeconds = 0.01;  // as ptl-bench: every grant evicts an old entry

// The segment of this run, removed at exit.
struct Segment {
  std::string name = "ptl-bench-" + std::to_string(getpid());
  ~Segment() { shm_unlink(("/ptl." + name).c_str()); }
};

enum class Shape { kConc, kWindow, kPolicy3 };

ptl_limiter* make(ptl_registry* reg, Shape shape) {
  ptl_limiter* lim = nullptr;
  if (shape == Shape::kPolicy3) {
    const int64_t window = static_cast<int64_t>(kWindowSeconds * 1e9);
    const ptl_limit limits[] = {{"requests", kMaxConcurrent, 0},
                                {"requests", kHugeWindowCount, window},
                                {"tokens", kHugeWindowCount, window},
                                {"requests", kHugeWindowCount, 86400 * PTL_SECOND}};
    ptl_policy p;
    ptl_policy_init(&p);
    p.n_limits = 4;
    p.limits = limits;
    return ptl_registry_get_or_create_policy(reg, "policy3", &p, &lim) == PTL_OK ? lim : nullptr;
  }
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = kMaxConcurrent;
  cfg.max_per_window = shape == Shape::kWindow ? kHugeWindowCount : 0;
  cfg.window_seconds = kWindowSeconds;
  const char* name = shape == Shape::kWindow ? "window" : "conc";
  return ptl_registry_get_or_create(reg, name, &cfg, &lim) == PTL_OK ? lim : nullptr;
}

// One limiter per (backend, shape), shared by the threads of a benchmark.
ptl_limiter* limiter(bool shm, Shape shape) {
  static Segment segment;
  static std::mutex mu;
  static std::map<std::pair<bool, Shape>, ptl_limiter*> made;
  std::lock_guard<std::mutex> lock(mu);
  auto& lim = made[{shm, shape}];
  if (lim != nullptr) return lim;
  ptl_registry* reg = nullptr;  // kept open for the whole run
  const std::string uri = shm ? "shm://" + segment.name : "local:";
  if (ptl_registry_open(uri.c_str(), &reg) != PTL_OK || (lim = make(reg, shape)) == nullptr) {
    std::fprintf(stderr, "ptl-bench-shm: %s\n", ptl_last_error());
    return nullptr;
  }
  return lim;
}

void acqrel(benchmark::State& state, bool shm, Shape shape) {
  ptl_limiter* lim = limiter(shm, shape);
  if (lim == nullptr) {
    state.SkipWithError("no limiter");
    return;
  }
  const ptl_amount tokens{"tokens", 100};
  const size_t n = shape == Shape::kPolicy3 ? 1 : 0;
  for (auto _ : state) {
    ptl_permit p = 0;
    if (ptl_acquire_amounts(lim, &tokens, n, 0, &p) != PTL_OK) {
      state.SkipWithError("acquire failed");
      break;
    }
    ptl_release(lim, p);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(acqrel, local_conc, false, Shape::kConc)
    ->Name("backend/local/conc")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, shm_conc, true, Shape::kConc)
    ->Name("backend/shm/conc")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, local_window, false, Shape::kWindow)
    ->Name("backend/local/window")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, shm_window, true, Shape::kWindow)
    ->Name("backend/shm/window")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, local_policy3, false, Shape::kPolicy3)
    ->Name("backend/local/policy3")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, shm_policy3, true, Shape::kPolicy3)
    ->Name("backend/shm/policy3")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
