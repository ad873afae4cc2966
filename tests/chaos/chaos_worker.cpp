// SPDX-License-Identifier: MIT
// ptl_chaos_worker: one process of the chaos tests (chaos_test.cpp).
//
//   ptl_chaos_worker URI NAME THREADS HOLD_US
//     THREADS threads take permits of NAME one after another, each held for HOLD_US, until
//     the process is killed (or, if stdout closes, ends). Per grant it writes two lines to
//     stdout, each in one write(2), so lines of threads never mix and everything written
//     before a SIGKILL reaches the reader:
//       "G THREAD T"  right after the acquire returned (T: CLOCK_MONOTONIC ns, which is
//                     common to every process of the host)
//       "R THREAD T"  right before the release
//     so [G, R] lies inside the permit's true holding interval. An acquire that fails
//     with PTL_EBACKEND or PTL_ETIMEDOUT is retried; any other failure writes "E message"
//     and exits 1.
#include <pocketflow_throttled/ptl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// One line in one write: atomic on a pipe (well under PIPE_BUF). False once nobody reads.
bool say(char kind, int thread, int64_t t) {
  char line[64];
  const int n =
      std::snprintf(line, sizeof line, "%c %d %lld\n", kind, thread, static_cast<long long>(t));
  return write(STDOUT_FILENO, line, static_cast<size_t>(n)) == n;
}

void fail(const char* what) {
  std::string line = std::string("E ") + what + ": " + ptl_last_error() + "\n";
  (void)!write(STDOUT_FILENO, line.data(), line.size());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: ptl_chaos_worker URI NAME THREADS HOLD_US\n");
    return 2;
  }
  const int threads = std::atoi(argv[3]);
  const int hold_us = std::atoi(argv[4]);
  ptl_registry* reg = nullptr;
  ptl_limiter* lim = nullptr;
  if (ptl_registry_open(argv[1], &reg) != PTL_OK) fail("open");
  if (ptl_registry_get(reg, argv[2], &lim) != PTL_OK) fail("get");
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!stop) {
        ptl_permit p = 0;
        const int rc = ptl_acquire(lim, 5'000'000'000, &p);
        if (rc == PTL_EBACKEND || rc == PTL_ETIMEDOUT) continue;
        if (rc != PTL_OK) fail("acquire");
        if (!say('G', t, now_ns())) stop = true;
        std::this_thread::sleep_for(std::chrono::microseconds(hold_us));
        if (!say('R', t, now_ns())) stop = true;
        if (ptl_release(lim, p) != PTL_OK) fail("release");
      }
    });
  }
  for (auto& th : pool) th.join();
  ptl_limiter_unref(lim);
  ptl_registry_close(reg);
  return 0;
}
