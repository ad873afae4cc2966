// SPDX-License-Identifier: MIT
// Helpers of the multi-process redis:// tests: worker processes (worker.cpp), their
// grant logs on the Redis server's clock, and the checks of the global invariants.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "redis_util.hpp"

extern char** environ;

namespace ptl_test {

// One grant as a worker saw it, in Redis server microseconds.
struct Grant {
  int64_t before = 0;    // before the acquire call
  int64_t granted = 0;   // after it returned: >= the true grant time
  int64_t released = 0;  // before the release call: <= the true release time
  bool retried = false;  // a TIME call had to wait for the server (outage)
};

inline pid_t spawn_worker(std::vector<std::string> args, int* stdout_fd = nullptr) {
  args.insert(args.begin(), PTL_REDIS_WORKER);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int pipefd[2] = {-1, -1};
  if (stdout_fd != nullptr) {
    EXPECT_EQ(pipe(pipefd), 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  }
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, PTL_REDIS_WORKER, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << "cannot start " << PTL_REDIS_WORKER;
  if (stdout_fd != nullptr) {
    close(pipefd[1]);
    *stdout_fd = pipefd[0];
  }
  return pid;
}

// Waits for the worker; its exit status (-1 if it did not end within timeout).
inline int wait_worker(pid_t pid, int64_t timeout_ns = 120 * kSec) {
  const int64_t end = mono_ns() + timeout_ns;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (mono_ns() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    sleep_ns(5 * kMs);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Reads a worker's log; *errors gets its count of PTL_EBACKEND.
inline std::vector<Grant> read_grants(const std::string& file, int* errors) {
  std::vector<Grant> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    if (line.rfind("errors ", 0) == 0) {
      std::string word;
      s >> word >> *errors;
      continue;
    }
    Grant g;
    int retried = 0;
    s >> g.before >> g.granted >> g.released >> retried;
    g.retried = retried != 0;
    out.push_back(g);
  }
  return out;
}

// The largest number of observed holding intervals [granted, released] that overlap at
// one instant. Each lies inside its permit's true interval, so this never exceeds the
// true maximum in flight: a value above max_concurrent proves a violation.
inline int max_overlap(const std::vector<Grant>& grants) {
  std::vector<std::pair<int64_t, int>> events;
  for (const Grant& g : grants) {
    events.emplace_back(g.granted, +1);
    events.emplace_back(g.released, -1);
  }
  std::sort(events.begin(), events.end());  // at equal times releases (-1) come first
  int now = 0, best = 0;
  for (const auto& e : events) best = std::max(best, now += e.second);
  return best;
}

// The most grants whose `granted` times lie within any span shorter than span_us.
// `granted` is at most slack after the true grant, so with span = window - slack a
// value above max_per_window proves that some window held too many grants.
inline size_t max_in_span(std::vector<Grant> grants, int64_t span_us) {
  std::sort(grants.begin(), grants.end(),
            [](const Grant& a, const Grant& b) { return a.granted < b.granted; });
  size_t best = 0, lo = 0;
  for (size_t hi = 0; hi < grants.size(); ++hi) {
    while (grants[hi].granted - grants[lo].granted >= span_us) ++lo;
    best = std::max(best, hi - lo + 1);
  }
  return best;
}

}  // namespace ptl_test
