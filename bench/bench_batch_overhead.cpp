// SPDX-License-Identifier: MIT
// exec/*: what the batch executors cost per item, next to a plain Boost.Asio thread
// pool running the same items with no limiter at all, in the same run.
//
//   exec/<work>/<subject>/W:<threads>/real_time, one iteration = one batch of kItems:
//     asio_join                a thread_pool of W threads made per batch, n posts, join;
//     asio_latch               one pool of W threads kept across batches, n posts, and
//                              a countdown the last item releases;
//     batch_run                ptl_batch_run with the defaults' shape: max_concurrent W,
//                              worker_threads 0 (= W); the limit never makes a worker
//                              wait, since there are only W of them;
//     batch_run_wide           max_concurrent kWideLimit, worker_threads 0: up to 64
//                              items at once on 64 workers (fewer workers than the
//                              limit is refused: queued grants would bunch up);
//     batch_run_window         batch_run with a sliding window that never fills, so the
//                              window path runs for every grant;
//     batch_start_asio         ptl_batch_start, max_concurrent W; the start callback posts
//                              the item to a kept pool of W threads, which runs it and
//                              calls ptl_batch_complete (the completion style's use);
//     batch_start_asio_wide    the same with max_concurrent kWideLimit;
//     batch_start_asio_window  batch_start_asio with the never-full window.
//   <work> is trivial (nothing) or spin1us (a busy loop of ~1 us on the clock).
//
// ns per item = 1 / items_per_second (wall); cpu_ns_per_item is the CPU time of all the
// process's threads per item, the cost whatever the scheduler made of it (wall time
// with 8 threads on 2 CPUs swings by 3x between runs; this much less);
// others_cpu_pct says how much of the machine other processes took meanwhile
// (bench_batch.hpp). batch_run pays for its worker threads per batch
// as asio_join does; batch_start_asio uses a kept pool as asio_latch does; run.sh
// pairs them so.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <pocketflow_throttled/ptl.h>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "baselines/asio_pool_batch.hpp"
#include "bench_batch.hpp"

namespace ptl::bench {
namespace {

constexpr size_t kItems = 10'000;
// The _wide subjects' limit: above every W here, so up to that many items are granted
// and queued for the threads at once.
constexpr uint32_t kWideLimit = 64;
// A window no batch fills, of the size a real one has (a few thousand requests at most:
// bench_limiter.cpp's acqrel/window rows), so its grants take the lock-free ring (ADR 22):
// 4096 per 50 us is 82 M items per second of room. A window of more requests than the
// ring holds takes the limiter's lock per grant; acqrel/largewindow measures that path.
constexpr uint64_t kWindowCount = 4096;
constexpr double kWindowSeconds = 50e-6;
constexpr int64_t kSpinNs = 1'000;
constexpr double kMinSeconds = 0.2;  // per benchmark; 32 of them, ~10 s a repetition

enum class Work { kTrivial, kSpin };

template <Work kWork>
inline void work(size_t index) {
  if constexpr (kWork == Work::kTrivial) {
    benchmark::DoNotOptimize(index);
  } else {
    const int64_t until = steady_ns() + kSpinNs;
    while (steady_ns() < until) {
    }
  }
}

unsigned threads_of(const benchmark::State& state) {
  return static_cast<unsigned>(state.range(0));
}

void finish(benchmark::State& state, const OtherLoad& load) {
  const int64_t items = state.iterations() * static_cast<int64_t>(kItems);
  state.SetItemsProcessed(items);
  state.counters["others_cpu_pct"] = load.percent();
  state.counters["cpu_ns_per_item"] =
      static_cast<double>(load.self_cpu_ns()) / static_cast<double>(std::max<int64_t>(items, 1));
}

// ---- baselines: Boost.Asio alone -----------------------------------------------------

template <Work kWork>
void bm_asio_join(benchmark::State& state) {
  const OtherLoad load;
  const unsigned threads = threads_of(state);
  for (auto _ : state) asio_join_batch(threads, kItems, [](size_t i) { work<kWork>(i); });
  finish(state, load);
}

template <Work kWork>
void bm_asio_latch(benchmark::State& state) {
  const OtherLoad load;
  AsioLatchBatch pool(threads_of(state));
  for (auto _ : state) pool.run(kItems, [](size_t i) { work<kWork>(i); });
  finish(state, load);
}

// ---- the executors ---------------------------------------------------------------------

enum class Limit { kThreads, kWide, kThreadsWindow };

// A limit that never holds an item back beyond what the W threads do anyway.
ptl_batch_options never_binding(Limit limit, unsigned threads, unsigned workers) {
  ptl_batch_options opts;
  ptl_batch_options_init(&opts);
  opts.limits.max_concurrent = limit == Limit::kWide ? kWideLimit : threads;
  const bool window = limit == Limit::kThreadsWindow;
  if (window) {
    opts.limits.max_per_window = kWindowCount;
    opts.limits.window_seconds = kWindowSeconds;
  }
  opts.worker_threads = limit == Limit::kWide ? 0 : workers;
  return opts;
}

template <Work kWork>
int run_item(void* /*user*/, ptl_batch* /*batch*/, size_t index, uint32_t /*attempt*/,
             int64_t* /*retry_after_ns*/) {
  work<kWork>(index);
  return PTL_OK;
}

template <Work kWork, Limit kLimit>
void bm_batch_run(benchmark::State& state) {
  const OtherLoad load;
  const unsigned threads = threads_of(state);
  const ptl_batch_options opts =
      never_binding(kLimit, threads, kLimit == Limit::kWide ? threads : 0);
  for (auto _ : state) {
    const int rc = ptl_batch_run(&opts, kItems, run_item<kWork>, nullptr, nullptr, nullptr);
    if (rc != PTL_OK) {
      state.SkipWithError((std::string("ptl_batch_run: ") + ptl_last_error()).c_str());
      break;
    }
  }
  finish(state, load);
}

struct StartContext {
  boost::asio::thread_pool* pool = nullptr;
  std::atomic<int> failure{PTL_OK};  // the first failed ptl_batch_complete
};

template <Work kWork>
void start_item(void* user, ptl_batch* batch, size_t index, uint32_t /*attempt*/) {
  auto* ctx = static_cast<StartContext*>(user);
  boost::asio::post(*ctx->pool, [ctx, batch, index] {
    work<kWork>(index);
    const int rc = ptl_batch_complete(batch, index, PTL_OK, -1);
    if (rc != PTL_OK) {
      int expected = PTL_OK;
      ctx->failure.compare_exchange_strong(expected, rc);
    }
  });
}

// One batch through ptl_batch_start: PTL_OK, or what went wrong.
template <Work kWork>
int one_started_batch(const ptl_batch_options& opts, StartContext& ctx) {
  ptl_batch* batch = nullptr;
  int rc = ptl_batch_start(&opts, kItems, start_item<kWork>, nullptr, &ctx, &batch);
  if (rc != PTL_OK) return rc;
  rc = ptl_batch_wait(batch, -1);
  ptl_batch_report report{};
  report.struct_size = sizeof report;
  if (rc == PTL_OK) rc = ptl_batch_report_get(batch, &report, nullptr, 0);
  ptl_batch_free(batch);
  if (rc == PTL_OK && report.succeeded != kItems) rc = PTL_EITEMS;
  return rc != PTL_OK ? rc : ctx.failure.load();
}

template <Work kWork, Limit kLimit>
void bm_batch_start(benchmark::State& state) {
  const OtherLoad load;
  const ptl_batch_options opts = never_binding(kLimit, threads_of(state), 0);
  boost::asio::thread_pool pool(threads_of(state));
  StartContext ctx;
  ctx.pool = &pool;
  for (auto _ : state) {
    const int rc = one_started_batch<kWork>(opts, ctx);
    if (rc != PTL_OK) {
      state.SkipWithError((std::string("ptl_batch_start/complete/wait: ") + ptl_status_name(rc) +
                           " " + ptl_last_error())
                              .c_str());
      break;
    }
  }
  pool.join();
  finish(state, load);
}

// ---- registration -----------------------------------------------------------------------

template <Work kWork>
void register_work(const std::string& work_name) {
  const auto add = [&](const char* subject, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(("exec/" + work_name + "/" + subject).c_str(), fn)
        ->ArgName("W")
        ->Arg(2)
        ->Arg(8)
        ->UseRealTime()
        ->MinTime(kMinSeconds);
  };
  add("asio_join", bm_asio_join<kWork>);
  add("asio_latch", bm_asio_latch<kWork>);
  add("batch_run", bm_batch_run<kWork, Limit::kThreads>);
  add("batch_run_wide", bm_batch_run<kWork, Limit::kWide>);
  add("batch_run_window", bm_batch_run<kWork, Limit::kThreadsWindow>);
  add("batch_start_asio", bm_batch_start<kWork, Limit::kThreads>);
  add("batch_start_asio_wide", bm_batch_start<kWork, Limit::kWide>);
  add("batch_start_asio_window", bm_batch_start<kWork, Limit::kThreadsWindow>);
}

}  // namespace

void register_batch_overhead() {
  register_work<Work::kTrivial>("trivial");
  register_work<Work::kSpin>("spin1us");
}

}  // namespace ptl::bench
