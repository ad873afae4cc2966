// ptl-bench-shm: shm:// acquire+release next to the local backend, in one run, through
// the C ABI users call (design section 5: "shm acquire+release, 1 process <= 250 ns").
//
//   backend/<backend>/conc    acquire+release, concurrency limit only (never full)
//   backend/<backend>/window  the same with a sliding window too large ever to block,
//                             so the window path (clock, log, eviction) runs every call
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

// One limiter per (backend, window), shared by the threads of a benchmark.
ptl_limiter* limiter(bool shm, bool window) {
  static Segment segment;
  static std::mutex mu;
  static std::map<std::pair<bool, bool>, ptl_limiter*> made;
  std::lock_guard<std::mutex> lock(mu);
  auto& lim = made[{shm, window}];
  if (lim != nullptr) return lim;
  ptl_registry* reg = nullptr;  // kept open for the whole run
  const std::string uri = shm ? "shm://" + segment.name : "local:";
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = kMaxConcurrent;
  cfg.max_per_window = window ? kHugeWindowCount : 0;
  cfg.window_seconds = kWindowSeconds;
  if (ptl_registry_open(uri.c_str(), &reg) != PTL_OK ||
      ptl_registry_get_or_create(reg, window ? "window" : "conc", &cfg, &lim) != PTL_OK) {
    std::fprintf(stderr, "ptl-bench-shm: %s\n", ptl_last_error());
    return nullptr;
  }
  return lim;
}

void acqrel(benchmark::State& state, bool shm, bool window) {
  ptl_limiter* lim = limiter(shm, window);
  if (lim == nullptr) {
    state.SkipWithError("no limiter");
    return;
  }
  for (auto _ : state) {
    ptl_permit p = 0;
    if (ptl_acquire(lim, 0, &p) != PTL_OK) {
      state.SkipWithError("acquire failed");
      break;
    }
    ptl_release(lim, p);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(acqrel, local_conc, false, false)
    ->Name("backend/local/conc")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, shm_conc, true, false)
    ->Name("backend/shm/conc")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, local_window, false, true)
    ->Name("backend/local/window")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(acqrel, shm_window, true, true)
    ->Name("backend/shm/window")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
