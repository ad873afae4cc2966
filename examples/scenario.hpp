// SPDX-License-Identifier: MIT
// The demo's scenario: two services share one registered limiter, and every permit's
// life is recorded so the report can judge the limiter from the outside.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ptl {
class Limiter;
class Registry;
}  // namespace ptl

namespace demo {

// Nominal figures are those of the translation and summarization scenario as users run
// it (a real minute, real 50-100 ms calls); the run divides every one of them by
// time_scale, limiter window included.
struct Params {
  // Two services of 20 items each would not do: 40 grants fit in one window of 60 and
  // the throughput limit would then never bind: only concurrency would shape the run. 50
  // each (100 grants) overflows the first window by 40, so the run shows a full window, a
  // wait for it to slide, and the tail: the strict-window verdict then means something.
  uint32_t items_per_service = 50;
  // max_concurrent_flows = 15, as in the two-services example: each service's flow runs
  // up to 15 instances at once, 30 in all, for 10 permits.
  uint32_t flows_at_once = 15;
  uint32_t max_concurrent = 10;
  uint64_t max_per_window = 60;
  double nominal_window_s = 60.0;
  double nominal_call_min_ms = 50.0;
  double nominal_call_max_ms = 100.0;
  // With 100 items the makespan is one window plus a ~0.3 s tail (nominal), so 6 turns
  // the 60 s window into 10 s and the whole run into about 10 s.
  double time_scale = 6.0;
  uint64_t seed = 42;
  // Where "openai" lives: empty = the process default registry (PTL_REGISTRY_URI picks its
  // backend), else a URI for ptl_registry_open ("local:", "shm://NAME", "redis://...").
  std::string uri;
  // 1: both services run in this process. N >= 2: in N child processes of this one, all
  // on `uri` (processes.hpp); child k runs service k % 2, its share of that service's items.
  uint32_t processes = 1;

  double window_s() const { return nominal_window_s / time_scale; }
  // "the default registry", or the URI.
  std::string where() const { return uri.empty() ? "the default registry" : uri; }
};

inline constexpr int kServices = 2;
inline constexpr const char* kServiceNames[kServices] = {"translation", "summarization"};
inline constexpr const char* kLimiterName = "openai";

// One item's life, in nanoseconds since the run's start (CLOCK_MONOTONIC). Each record
// is written by the one flow instance that ran the item, and read after both flows ended.
struct ItemRecord {
  int service = 0;
  int64_t call_ns = 0;      // the mock call's requested duration (scaled)
  int64_t want_ns = -1;     // just before acquire
  int64_t grant_ns = -1;    // right after acquire returned a permit
  int64_t release_ns = -1;  // right before the release
};

struct RunResult {
  std::vector<ItemRecord> items;  // service 0's items, then service 1's
  int64_t end_ns = 0;             // when the last flow finished
  // Taken live from per-service counters under one mutex, so the total is exact at
  // every step: raised after acquire returns, lowered before release.
  uint32_t peak_total_in_flight = 0;
  uint32_t peak_in_flight[kServices] = {0, 0};
  // The library's own view after the run (ptl_registry_stats).
  uint64_t lib_total_acquired = 0;
  uint64_t lib_total_timeouts = 0;
  uint32_t lib_in_flight_after = 0;
  std::string registry_note;  // non-empty if "openai" had to be replaced
  std::string error;          // non-empty if a ptl_* call failed
};

// Registers "openai" in p.uri's registry and runs the two services' flows at once, in this
// process (ptl_flow.hpp's ThrottledParallelBatchFlow over the C ABI).
RunResult run_scenario(const Params& p);

// Registers "openai" with p's limits. In the default registry an existing one has its
// limits replaced in place (*note says so); in a registry named by p.uri, which may hold
// one from an earlier run, it is removed and registered afresh, so the window starts
// empty. Throws ptl::Error.
void register_openai(ptl::Registry& reg, const Params& p, std::string* note);

// Items [first, first + count) of one service: what one process runs.
struct Slice {
  int service = 0;
  size_t first = 0;  // global item index
  size_t count = 0;
};
// Both services whole: the in-process run.
std::vector<Slice> all_slices(const Params& p);
// Child k's share (0 <= k < p.processes): service k % 2, split evenly between the children
// that run it.
Slice child_slice(const Params& p, uint32_t k);

// Runs one flow per slice against `openai`, each on a thread of its own. Once every thread
// exists, `start` is called and returns the run's t0 (CLOCK_MONOTONIC ns; it may wait for
// it); then the flows start. res.items must hold every item of the run (call_ns and service
// set); only the slices' items are stamped. Errors land in res.error.
void play(const Params& p, const ptl::Limiter& openai, const std::vector<Slice>& slices,
          const std::function<int64_t()>& start, RunResult& res);

// The items of the whole run with their call durations and services, not yet stamped.
std::vector<ItemRecord> blank_items(const Params& p);

// The mock call durations for seed p.seed, scaled: drawn up front so the lower bound
// knows exactly what the calls asked for.
std::vector<int64_t> draw_call_durations(const Params& p);

}  // namespace demo
