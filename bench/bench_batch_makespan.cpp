// SPDX-License-Identifier: MIT
// makespan/*: how close a throttled batch comes to its theoretical lower bound (the
// performance target: makespan / bound <= 1.02), measured with the executors and with a plain
// acquire loop on the bare limiter, so the executor's cost shows apart from the
// limiter's.
//
//   makespan/<scenario>/<subject>/iterations:1/manual_time, one iteration = one batch:
//     batch_run         ptl_batch_run, worker_threads 0 (= the concurrency ceiling);
//     batch_start_asio  ptl_batch_start; each item is a boost::asio::steady_timer on one
//                       io_context thread, whose handler calls ptl_batch_complete;
//     acquire_loop      C threads, ptl_acquire / sleep / ptl_release on one limiter of
//                       the same limits (baselines/acquire_loop_batch.hpp).
//   Items sleep for durations drawn once, with a fixed seed, uniformly in 5..10 ms.
//
// Time is the wall time from just before the batch starts to its end as the caller
// sees it (the run returns, the wait returns), thread start-up included. Counters:
//   makespan_seconds, inorder_bound_seconds, any_bound_seconds (baselines/
//   makespan_bound.hpp explains both bounds), inorder_ratio and any_ratio (makespan
//   over each), actual_ratio (over the in-order bound recomputed with the durations
//   the items really slept: the sleeps' own lateness taken out), sleep_late_ns (mean
//   of that lateness per item), others_cpu_pct (bench_batch.hpp's OtherLoad).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <pocketflow_throttled/ptl.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "baselines/acquire_loop_batch.hpp"
#include "baselines/makespan_bound.hpp"
#include "bench_batch.hpp"

namespace ptl::bench {
namespace {

struct Scenario {
  const char* name;
  size_t items;
  uint32_t max_concurrent;
  uint64_t max_per_window;  // 0: no window
  double window_seconds;
};

// Both limits bind in the window scenarios: within a window's share of items the
// concurrency of 8 is the bottleneck (100 items x 7.5 ms / 8 = 94 ms per share), and
// the window spaces the shares (0.5 s, or 0.1 s for 20 items: 19 ms of work). The last
// one is the concurrency alone, where the executor's per-item gaps add up the most.
constexpr Scenario kScenarios[] = {
    {"c8_100per500ms", 200, 8, 100, 0.5},
    {"c8_20per100ms", 200, 8, 20, 0.1},
    {"c8_nowindow", 200, 8, 0, 1.0},
};
constexpr int64_t kMinItemNs = 5'000'000;
constexpr int64_t kMaxItemNs = 10'000'000;
constexpr uint64_t kSeed = 20'240'607;

// Fixed for a given seed on every platform: no std::uniform_int_distribution, whose
// algorithm the standard leaves open. (The modulo's bias is below 1e-12.)
std::vector<int64_t> draw_durations(size_t n) {
  std::mt19937_64 rng(kSeed);
  const auto span = static_cast<uint64_t>(kMaxItemNs - kMinItemNs + 1);
  std::vector<int64_t> d(n);
  for (int64_t& v : d) v = kMinItemNs + static_cast<int64_t>(rng() % span);
  return d;
}

ThrottleLimits limits_of(const Scenario& s) {
  ThrottleLimits lim;
  lim.max_concurrent = s.max_concurrent;
  lim.max_per_window = s.max_per_window;
  lim.window_ns = static_cast<int64_t>(s.window_seconds * 1e9);
  return lim;
}

ptl_limiter_config config_of(const Scenario& s) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = s.max_concurrent;
  cfg.max_per_window = s.max_per_window;
  cfg.window_seconds = s.window_seconds;
  return cfg;
}

// One batch's items: the planned durations and what each item really slept.
struct Items {
  explicit Items(size_t n) : planned(draw_durations(n)), slept(n, 0) {}
  void sleep(size_t i) {
    const int64_t t0 = steady_ns();
    std::this_thread::sleep_for(std::chrono::nanoseconds(planned[i]));
    slept[i] = steady_ns() - t0;
  }
  std::vector<int64_t> planned;
  std::vector<int64_t> slept;  // written once per item, by the thread that ran it
};

void report(benchmark::State& state, const Scenario& s, const Items& items, int64_t makespan) {
  const ThrottleLimits lim = limits_of(s);
  const auto in_order = static_cast<double>(in_order_bound(items.planned, lim));
  const auto any = static_cast<double>(any_order_bound(items.planned, lim));
  const auto actual = static_cast<double>(in_order_bound(items.slept, lim));
  const auto m = static_cast<double>(makespan);
  int64_t late = 0;
  for (size_t i = 0; i < items.planned.size(); ++i) late += items.slept[i] - items.planned[i];
  state.SetIterationTime(m / 1e9);
  state.counters["makespan_seconds"] = m / 1e9;
  state.counters["inorder_bound_seconds"] = in_order / 1e9;
  state.counters["any_bound_seconds"] = any / 1e9;
  state.counters["inorder_ratio"] = m / in_order;
  state.counters["any_ratio"] = m / any;
  state.counters["actual_ratio"] = m / actual;
  state.counters["sleep_late_ns"] =
      static_cast<double>(late) / static_cast<double>(items.planned.size());
}

void fail(benchmark::State& state, const char* what, int rc) {
  state.SkipWithError(
      (std::string(what) + ": " + ptl_status_name(rc) + " " + ptl_last_error()).c_str());
}

// ---- subjects ------------------------------------------------------------------------

int sleep_item(void* user, ptl_batch* /*batch*/, size_t index, uint32_t /*attempt*/,
               int64_t* /*retry_after_ns*/) {
  static_cast<Items*>(user)->sleep(index);
  return PTL_OK;
}

void bm_batch_run(benchmark::State& state, const Scenario& s) {
  const OtherLoad load;
  ptl_batch_options opts;
  ptl_batch_options_init(&opts);
  opts.limits = config_of(s);
  opts.worker_threads = 0;
  for (auto _ : state) {
    Items items(s.items);
    ptl_batch_report rep{};
    rep.struct_size = sizeof rep;
    const int64_t t0 = steady_ns();
    const int rc = ptl_batch_run(&opts, s.items, sleep_item, &items, nullptr, &rep);
    const int64_t t1 = steady_ns();
    if (rc != PTL_OK) return fail(state, "ptl_batch_run", rc);
    report(state, s, items, t1 - t0);
    state.counters["others_cpu_pct"] = load.percent();
    state.counters["reported_seconds"] = static_cast<double>(rep.elapsed_ns) / 1e9;
    state.counters["peak_in_flight"] = rep.peak_in_flight;
  }
}

// The completion style on an event loop: no thread per item, a timer each.
struct TimerItems {
  boost::asio::io_context* io = nullptr;
  Items* items = nullptr;
  std::atomic<int> failure{PTL_OK};
};

void start_timer_item(void* user, ptl_batch* batch, size_t index, uint32_t /*attempt*/) {
  auto* ctx = static_cast<TimerItems*>(user);
  const int64_t t0 = steady_ns();
  auto timer = std::make_shared<boost::asio::steady_timer>(
      *ctx->io, std::chrono::nanoseconds(ctx->items->planned[index]));
  timer->async_wait([ctx, batch, index, t0, timer](const boost::system::error_code& ec) {
    ctx->items->slept[index] = steady_ns() - t0;
    const int rc = ptl_batch_complete(batch, index, ec ? PTL_EINTERNAL : PTL_OK, -1);
    if (rc != PTL_OK) {
      int expected = PTL_OK;
      ctx->failure.compare_exchange_strong(expected, rc);
    }
  });
}

void bm_batch_start(benchmark::State& state, const Scenario& s) {
  const OtherLoad load;
  ptl_batch_options opts;
  ptl_batch_options_init(&opts);
  opts.limits = config_of(s);
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread loop([&io] { io.run(); });
  for (auto _ : state) {
    Items items(s.items);
    TimerItems ctx;
    ctx.io = &io;
    ctx.items = &items;
    ptl_batch* batch = nullptr;
    const int64_t t0 = steady_ns();
    int rc = ptl_batch_start(&opts, s.items, start_timer_item, nullptr, &ctx, &batch);
    if (rc == PTL_OK) rc = ptl_batch_wait(batch, -1);
    const int64_t t1 = steady_ns();
    ptl_batch_report rep{};
    rep.struct_size = sizeof rep;
    if (rc == PTL_OK) rc = ptl_batch_report_get(batch, &rep, nullptr, 0);
    ptl_batch_free(batch);
    if (rc == PTL_OK && rep.succeeded != s.items) rc = PTL_EITEMS;
    if (rc == PTL_OK) rc = ctx.failure.load();
    if (rc != PTL_OK) {
      fail(state, "ptl_batch_start/wait", rc);
      break;
    }
    report(state, s, items, t1 - t0);
    state.counters["others_cpu_pct"] = load.percent();
    state.counters["reported_seconds"] = static_cast<double>(rep.elapsed_ns) / 1e9;
    state.counters["peak_in_flight"] = rep.peak_in_flight;
  }
  guard.reset();
  loop.join();
}

void bm_acquire_loop(benchmark::State& state, const Scenario& s) {
  const OtherLoad load;
  const ptl_limiter_config cfg = config_of(s);
  for (auto _ : state) {
    ptl_limiter* limiter = nullptr;
    int rc = ptl_limiter_create(&cfg, &limiter);
    if (rc != PTL_OK) return fail(state, "ptl_limiter_create", rc);
    Items items(s.items);
    const int64_t t0 = steady_ns();
    rc = acquire_loop_batch(limiter, s.items, s.max_concurrent,
                            [&items](size_t i) { items.sleep(i); });
    const int64_t t1 = steady_ns();
    ptl_limiter_unref(limiter);
    if (rc != PTL_OK) return fail(state, "acquire loop", rc);
    report(state, s, items, t1 - t0);
    state.counters["others_cpu_pct"] = load.percent();
  }
}

}  // namespace

void register_batch_makespan() {
  for (const Scenario& s : kScenarios) {
    const std::string base = std::string("makespan/") + s.name + "/";
    const auto add = [&](const char* subject, void (*fn)(benchmark::State&, const Scenario&)) {
      benchmark::RegisterBenchmark((base + subject).c_str(), fn, s)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    };
    add("batch_run", bm_batch_run);
    add("batch_start_asio", bm_batch_start);
    add("acquire_loop", bm_acquire_loop);
  }
}

}  // namespace ptl::bench
