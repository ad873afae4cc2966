// SPDX-License-Identifier: MIT
// The fixture of the multi-process suites: an shm:// registry, a grant observer shared
// with the worker processes (ptl_shm_worker, started with posix_spawn), and helpers to
// start, await and kill them. Workers still running at the end are killed.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <random>
#include <vector>

#include "shm_observer.hpp"
#include "shm_util.hpp"

extern char** environ;

namespace ptl_test {

inline constexpr int64_t kHangGuard = 20 * kSec;

class ShmProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    obs_ = SharedObserver::create(&obs_fd_);
    ASSERT_NE(obs_, nullptr);
  }
  void TearDown() override {
    for (pid_t pid : running_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (obs_->failures.load() != 0) ADD_FAILURE() << obs_->failures.load() << " worker failures";
    munmap(obs_, sizeof(SharedObserver));
    close(obs_fd_);
  }

  // Starts ptl_shm_worker MODE URI LIMITER FD ARGS...
  pid_t spawn(const std::string& mode, const std::string& limiter,
              const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = {PTL_SHM_WORKER, mode, reg_.uri(), limiter,
                                    std::to_string(obs_fd_)};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, PTL_SHM_WORKER, nullptr, nullptr, argv.data(), environ);
    EXPECT_EQ(rc, 0) << "posix_spawn " << PTL_SHM_WORKER;
    if (rc == 0) running_.push_back(pid);
    return pid;
  }

  // The worker's exit status, or -1 if it did not exit in time (then it is killed).
  int wait_exit(pid_t pid, int64_t timeout_ns = kHangGuard) {
    const int64_t end = mono_ns() + timeout_ns;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (mono_ns() > end) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        forget(pid);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    forget(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // kill -9; returns the time of the kill (CLOCK_MONOTONIC) once the process is gone.
  int64_t kill9(pid_t pid) {
    const int64_t t = mono_ns();
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    forget(pid);
    return t;
  }

  bool wait_ready(int n) {
    return wait_until([&] { return obs_->ready.load() >= n; }, kHangGuard);
  }

  void forget(pid_t pid) { std::erase(running_, pid); }

  ShmReg reg_;
  SharedObserver* obs_ = nullptr;
  int obs_fd_ = -1;
  std::vector<pid_t> running_;
};

}  // namespace ptl_test
