// SPDX-License-Identifier: MIT
// The batch executors' benchmarks (ptl_batch_run, ptl_batch_start), registered into
// ptl-bench by its main next to the limiter's own.
//
//   exec/*      per-item cost of the executors against a plain Boost.Asio thread pool
//               doing the same work (bench_batch_overhead.cpp);
//   makespan/*  a throttled batch's makespan against its theoretical lower bound
//               (bench_batch_makespan.cpp).
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

namespace ptl::bench {

void register_batch_overhead();
void register_batch_makespan();
void register_abi_overhead();  // bench_abi_overhead.cpp

inline int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How much of the machine other processes used while a benchmark ran, in percent of
// all CPUs over the wall time: on this shared 2-CPU machine a build next door halves
// the figures, and this says which repetitions it hit. Busy ticks of the whole machine
// (/proc/stat) minus this process's own (/proc/self/stat, all threads); ticks are
// 10 ms, so a 0.2 s benchmark reads in steps of 2.5%. -1 if the kernel does not say.
// It also gives this process's own CPU time meanwhile (getrusage, all threads, those
// already joined included): what the work cost, whatever the scheduler made of it.
class OtherLoad {
 public:
  OtherLoad()
      : machine0_(machine_busy_ticks()),
        self0_(self_ticks()),
        t0_(steady_ns()),
        cpu0_(process_cpu_ns()) {}

  // CPU time of every thread of this process since construction, in ns.
  int64_t self_cpu_ns() const { return process_cpu_ns() - cpu0_; }

  double percent() const {
    const int64_t machine1 = machine_busy_ticks();
    const int64_t self1 = self_ticks();
    const double wall = static_cast<double>(steady_ns() - t0_);
    if (machine0_ < 0 || self0_ < 0 || machine1 < 0 || self1 < 0 || wall <= 0) return -1;
    const int64_t others = std::max<int64_t>(0, (machine1 - machine0_) - (self1 - self0_));
    const double tick_ns = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpus = std::max(1u, std::thread::hardware_concurrency());
    return 100.0 * static_cast<double>(others) * tick_ns / (wall * cpus);
  }

 private:
  static int64_t machine_busy_ticks() {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return -1;
    long long v[8] = {};  // user nice system idle iowait irq softirq steal
    const int n = std::fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
                              &v[3], &v[4], &v[5], &v[6], &v[7]);
    std::fclose(f);
    return n == 8 ? v[0] + v[1] + v[2] + v[5] + v[6] + v[7] : -1;
  }
  static int64_t self_ticks() {
    std::FILE* f = std::fopen("/proc/self/stat", "r");
    if (f == nullptr) return -1;
    // Fields 14 and 15 (utime, stime); the command name (field 2) has no ')' here.
    long long utime = 0;
    long long stime = 0;
    const int n = std::fscanf(
        f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &utime, &stime);
    std::fclose(f);
    return n == 2 ? utime + stime : -1;
  }

  static int64_t process_cpu_ns() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    const auto ns = [](const timeval& tv) {
      return static_cast<int64_t>(tv.tv_sec) * 1'000'000'000 +
             static_cast<int64_t>(tv.tv_usec) * 1'000;
    };
    return ns(ru.ru_utime) + ns(ru.ru_stime);
  }

  int64_t machine0_;
  int64_t self0_;
  int64_t t0_;
  int64_t cpu0_;
};

}  // namespace ptl::bench
