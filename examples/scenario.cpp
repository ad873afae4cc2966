// Plays the scenario: the main thread registers "openai" once, then each service looks it
// up by name and runs its workers; every permit's grant and release time is recorded.
#include "scenario.hpp"

#include <pocketflow_throttled/ptl.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

namespace demo {
namespace {

// CLOCK_MONOTONIC directly: the library's clock too, so our stamps and its window agree.
int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Sleeps until an absolute CLOCK_MONOTONIC time, so a call lasts its duration from the
// grant even if the thread is preempted between the stamp and the sleep.
void sleep_until_ns(int64_t deadline) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(deadline / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(deadline % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// "PTL_EINVAL: ptl_acquire: <what>": the library's message names the call already; the
// call's name is added only when it does not.
std::string describe(const char* call, int status) {
  const std::string msg = ptl_last_error();
  const std::string head = std::string(ptl_status_name(status)) + ": ";
  if (msg.rfind(call, 0) == 0) return head + msg;
  return head + call + (msg.empty() ? "" : ": " + msg);
}

// Minimal RAII over ptl.h, local to the demo (the C++ layer ptl.hpp is not used here, so
// the demo shows the C ABI as any binding sees it).
class LimiterRef {
 public:
  LimiterRef() = default;
  LimiterRef(const LimiterRef&) = delete;
  LimiterRef& operator=(const LimiterRef&) = delete;
  ~LimiterRef() { ptl_limiter_unref(lim_); }  // NULL is ignored
  ptl_limiter** out() { return &lim_; }
  ptl_limiter* get() const { return lim_; }

 private:
  ptl_limiter* lim_ = nullptr;
};

// A held permit; released by release() or, on any early exit, by the destructor, so no
// path can leak a slot of the shared quota.
class Permit {
 public:
  explicit Permit(ptl_limiter* lim) : lim_(lim) {}
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  ~Permit() { release(); }
  int acquire() { return ptl_acquire(lim_, -1, &permit_); }  // -1: wait as long as it takes
  int release() {
    if (permit_ == 0) return PTL_OK;
    const int st = ptl_release(lim_, permit_);
    permit_ = 0;
    return st;
  }

 private:
  ptl_limiter* lim_;
  ptl_permit permit_ = 0;  // 0 is never a valid permit
};

// What the workers share: the start gate, the in-flight counters and the first error.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  int64_t t0 = 0;
  uint32_t in_flight[kServices] = {0, 0};
  uint32_t peak[kServices] = {0, 0};
  uint32_t peak_total = 0;
  std::string error;
  std::atomic<bool> failed{false};

  void fail(std::string msg) {
    std::lock_guard lock(mu);
    if (error.empty()) error = std::move(msg);
    failed.store(true);
  }
};

// One worker of one service: takes the next item of the service's queue (an atomic index
// into its slice of `items`) until the queue is empty.
void worker(Shared& sh, ptl_limiter* lim, int service, std::atomic<uint32_t>& next,
            ItemRecord* items, uint32_t count) {
  int64_t t0 = 0;
  {
    std::unique_lock lock(sh.mu);
    sh.cv.wait(lock, [&] { return sh.started; });
    t0 = sh.t0;
  }
  for (;;) {
    const uint32_t i = next.fetch_add(1);
    if (i >= count || sh.failed.load()) return;
    ItemRecord& rec = items[i];
    Permit permit(lim);
    rec.want_ns = now_ns() - t0;
    const int st = permit.acquire();
    const int64_t granted = now_ns();
    if (st != PTL_OK) return sh.fail(describe("ptl_acquire", st));
    rec.grant_ns = granted - t0;
    {
      std::lock_guard lock(sh.mu);
      const uint32_t mine = ++sh.in_flight[service];
      if (mine > sh.peak[service]) sh.peak[service] = mine;
      const uint32_t total = sh.in_flight[0] + sh.in_flight[1];
      if (total > sh.peak_total) sh.peak_total = total;
    }
    sleep_until_ns(granted + rec.call_ns);  // the mock LLM call
    {
      std::lock_guard lock(sh.mu);
      --sh.in_flight[service];
    }
    rec.release_ns = now_ns() - t0;
    const int rs = permit.release();
    if (rs != PTL_OK) return sh.fail(describe("ptl_release", rs));
  }
}

// Registers the limiter once, as an application does at start-up. A default registry
// backed by shm:// or redis:// (PTL_REGISTRY_URI) may hold "openai" from an earlier run;
// it is then replaced in place, so the run is checked against the limits it states.
int register_openai(const Params& p, std::string* note) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = p.max_concurrent;
  cfg.max_per_window = p.max_per_window;
  cfg.window_seconds = p.window_s();
  int st = ptl_registry_register(nullptr, kLimiterName, &cfg, 0);
  if (st == PTL_EEXIST) {
    *note = "limiter \"openai\" existed already; its limits were replaced in place";
    st = ptl_registry_register(nullptr, kLimiterName, &cfg, PTL_REPLACE);
  }
  return st;
}

}  // namespace

std::vector<int64_t> draw_call_durations(const Params& p) {
  // mt19937_64's output is fixed by the standard (the distributions are not), so one
  // seed gives the same durations with any standard library.
  std::mt19937_64 rng(p.seed);
  const uint32_t n = p.items_per_service * kServices;
  std::vector<int64_t> out(n);
  for (auto& d : out) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // uniform in [0, 1)
    const double ms = p.nominal_call_min_ms + u * (p.nominal_call_max_ms - p.nominal_call_min_ms);
    d = std::llround(ms * 1e6 / p.time_scale);
  }
  return out;
}

RunResult run_scenario(const Params& p) {
  RunResult res;
  const std::vector<int64_t> calls = draw_call_durations(p);
  res.items.resize(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    res.items[i].service = static_cast<int>(i / p.items_per_service);
    res.items[i].call_ns = calls[i];
  }

  if (const int st = register_openai(p, &res.registry_note); st != PTL_OK) {
    res.error = describe("ptl_registry_register", st);
    return res;
  }

  // Each service looks the limiter up by name, as separate components would.
  LimiterRef lims[kServices];
  for (auto& lim : lims) {
    if (const int st = ptl_registry_get(nullptr, kLimiterName, lim.out()); st != PTL_OK) {
      res.error = describe("ptl_registry_get", st);
      return res;
    }
  }

  Shared sh;
  std::atomic<uint32_t> next[kServices] = {0, 0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kServices; ++s) {
    ItemRecord* slice = res.items.data() + size_t{p.items_per_service} * s;
    for (uint32_t w = 0; w < p.workers_per_service; ++w)
      threads.emplace_back(worker, std::ref(sh), lims[s].get(), s, std::ref(next[s]), slice,
                           p.items_per_service);
  }
  // Every thread exists before the clock starts, so thread creation is not in the run.
  {
    std::lock_guard lock(sh.mu);
    sh.t0 = now_ns();
    sh.started = true;
  }
  sh.cv.notify_all();
  for (auto& t : threads) t.join();
  res.end_ns = now_ns() - sh.t0;

  res.error = sh.error;
  res.peak_total_in_flight = sh.peak_total;
  for (int s = 0; s < kServices; ++s) res.peak_in_flight[s] = sh.peak[s];

  ptl_limiter_stats stats{};
  stats.struct_size = sizeof stats;
  if (const int st = ptl_registry_stats(nullptr, kLimiterName, &stats); st != PTL_OK) {
    if (res.error.empty()) res.error = describe("ptl_registry_stats", st);
  } else {
    res.lib_total_acquired = stats.total_acquired;
    res.lib_total_timeouts = stats.total_timeouts;
    res.lib_in_flight_after = stats.in_flight;
  }
  return res;
}

}  // namespace demo
