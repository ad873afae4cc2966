// SPDX-License-Identifier: MIT
// abi_overhead/*: what the C ABI adds to an acquire+release cycle of the C++ core, as a
// paired measurement.
//
// acqrel/{conc,window}/{core,capi} measure the two in separate runs of ~1 s each; their
// difference is a few ns between figures of 20-50 ns that drift by more than that from one
// run to the next on a shared machine. Here one iteration times a block of kBlock core
// cycles, then a block of kBlock C ABI cycles on a limiter of the same configuration, so
// both blocks of a pair (~10 us apart) see the same machine, and the figure is the median
// of the per-pair differences:
//   abi_overhead/<kind>/iterations:N   overhead_ns  median (C ABI - core) per cycle
//                                      core_ns, capi_ns  median per cycle of each
// Block order alternates between pairs, so a slope within a pair cancels out.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <pocketflow_throttled/ptl.h>

#include "bench_batch.hpp"
#include "core/local_limiter.hpp"

namespace ptl::bench {
namespace {

constexpr int kBlock = 256;     // cycles per timed block
constexpr int kPairs = 20'000;  // pairs per repetition: ~0.5 s with two blocks of ~10 us
constexpr uint32_t kMax = 64;   // as bench_limiter.cpp's subjects (kMaxConcurrent)

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// A window of 4096 per 50 us (the ring of ADR 22, as acqrel/window), or none.
struct Config {
  uint64_t max_per_window;
  double window_seconds;
};

int64_t core_block(core::LocalLimiter& limiter) {
  const int64_t t0 = steady_ns();
  for (int i = 0; i < kBlock; ++i) {
    core::PermitId permit;
    if (limiter.acquire(core::Demand{}, -1, &permit) != core::Status::kOk) return -1;
    limiter.release(permit, std::nullopt);
  }
  return steady_ns() - t0;
}

int64_t capi_block(ptl_limiter* limiter) {
  const int64_t t0 = steady_ns();
  for (int i = 0; i < kBlock; ++i) {
    ptl_permit permit;
    if (ptl_acquire(limiter, -1, &permit) != PTL_OK) return -1;
    if (ptl_release(limiter, permit) != PTL_OK) return -1;
  }
  return steady_ns() - t0;
}

void bm_abi_overhead(benchmark::State& state, Config config) {
  core::BasicConfig core_cfg;
  core_cfg.max_concurrent = kMax;
  core_cfg.max_per_window = config.max_per_window;
  core_cfg.window_seconds = config.window_seconds;
  core_cfg.validate();
  core::LocalLimiter core_limiter(core_cfg);
  ptl_limiter_config capi_cfg;
  ptl_limiter_config_init(&capi_cfg);
  capi_cfg.max_concurrent = kMax;
  capi_cfg.max_per_window = config.max_per_window;
  capi_cfg.window_seconds = config.window_seconds;
  ptl_limiter* capi_limiter = nullptr;
  if (ptl_limiter_create(&capi_cfg, &capi_limiter) != PTL_OK) {
    state.SkipWithError(ptl_last_error());
    return;
  }
  std::vector<double> core_ns, capi_ns, diff_ns;
  bool failed = false;
  for (auto _ : state) {
    core_ns.clear();
    capi_ns.clear();
    diff_ns.clear();
    for (int pair = 0; pair < kPairs && !failed; ++pair) {
      int64_t c = 0, a = 0;
      if (pair % 2 == 0) {
        c = core_block(core_limiter);
        a = capi_block(capi_limiter);
      } else {
        a = capi_block(capi_limiter);
        c = core_block(core_limiter);
      }
      failed = c < 0 || a < 0;
      core_ns.push_back(static_cast<double>(c) / kBlock);
      capi_ns.push_back(static_cast<double>(a) / kBlock);
      diff_ns.push_back(static_cast<double>(a - c) / kBlock);
    }
  }
  ptl_limiter_unref(capi_limiter);
  if (failed) {
    state.SkipWithError("acquire failed: the limiter should never be full here");
    return;
  }
  state.counters["overhead_ns"] = median(diff_ns);
  state.counters["core_ns"] = median(core_ns);
  state.counters["capi_ns"] = median(capi_ns);
}

}  // namespace

void register_abi_overhead() {
  benchmark::RegisterBenchmark("abi_overhead/conc", bm_abi_overhead, Config{0, 60.0})
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("abi_overhead/window", bm_abi_overhead, Config{4096, 50e-6})
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace ptl::bench
