// SPDX-License-Identifier: MIT
// Small pieces both scenarios share: the clock, sleeping, error text, limiter handles and
// the registration of "openai".
#pragma once

#include <pocketflow_throttled/ptl.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace demo {

// CLOCK_MONOTONIC directly: the library's clock too, so our stamps and its window agree.
inline int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Sleeps until an absolute CLOCK_MONOTONIC time, so a call lasts its duration from the
// grant even if the thread is preempted between the stamp and the sleep.
inline void sleep_until_ns(int64_t deadline) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(deadline / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(deadline % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// "PTL_EINVAL: ptl_acquire: <what>": the library's message names the call already; the
// call's name is added only when it does not.
std::string describe(const char* call, int status);

// Minimal RAII over a limiter reference (the C++ layer ptl.hpp is not used here, so the
// demo shows the C ABI as any binding sees it).
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

// Registers `name` with cfg once, as an application does at start-up. A default registry
// backed by shm:// or redis:// (PTL_REGISTRY_URI) may hold it from an earlier run; it is
// then replaced in place and *note says so, so the run is checked against the limits it
// states.
int register_limiter(const char* name, const ptl_limiter_config& cfg, std::string* note);

// n durations uniform in [min_ms, max_ms), divided by time_scale, in ns. mt19937_64's
// output is fixed by the standard (the distributions are not), so one seed gives the same
// durations with any standard library.
std::vector<int64_t> draw_durations(uint64_t seed, size_t n, double min_ms, double max_ms,
                                    double time_scale);

}  // namespace demo
