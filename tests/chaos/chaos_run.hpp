// SPDX-License-Identifier: MIT
// ChaosRun: worker processes (chaos_worker.cpp) on one limiter, their grant lines read
// from pipes, kills at random, and the intervals in which live processes held permits.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "capi_util.hpp"
#ifdef PTL_WITH_REDIS_TESTS
#include "redis_server.hpp"
#endif

extern char** environ;

namespace ptl_test {

class ChaosRun {
 public:
  ChaosRun(std::string uri, std::string name, int threads, int hold_us)
      : uri_(std::move(uri)), name_(std::move(name)), threads_(threads), hold_us_(hold_us) {}
  ChaosRun(const ChaosRun&) = delete;
  ChaosRun& operator=(const ChaosRun&) = delete;
  ~ChaosRun() { stop_all(); }

  void start_worker() {
    std::vector<std::string> args = {PTL_CHAOS_WORKER, uri_, name_, std::to_string(threads_),
                                     std::to_string(hold_us_)};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, PTL_CHAOS_WORKER, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    ASSERT_EQ(rc, 0) << "cannot start " << PTL_CHAOS_WORKER;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    workers_.push_back(Worker{pid, fds[0], {}, {}});
  }

  // Reads what the workers write until `until` (CLOCK_MONOTONIC ns).
  void pump(int64_t until) {
    for (;;) {
      std::vector<pollfd> fds;
      for (const Worker& w : workers_) fds.push_back({w.fd, POLLIN, 0});
      const int64_t left = until - mono_ns();
      if (left <= 0) return;
      poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left / kMs + 1, 50)));
      for (Worker& w : workers_) drain(w);
    }
  }

  // SIGKILL to one worker at random; whatever it held ends with it.
  void kill_one(std::mt19937& rng) {
    std::uniform_int_distribution<size_t> pick(0, workers_.size() - 1);
    const size_t i = pick(rng);
    end_worker(workers_[i]);
    workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void stop_all() {
    for (Worker& w : workers_) end_worker(w);
    workers_.clear();
  }

  size_t grants_between(int64_t from, int64_t to) const {
    return static_cast<size_t>(std::count_if(grant_times_.begin(), grant_times_.end(),
                                             [&](int64_t t) { return t >= from && t < to; }));
  }

  // The most permits live processes held at one instant.
  int max_overlap() const {
    std::vector<std::pair<int64_t, int>> events;
    for (const auto& [from, to] : held_) {
      events.emplace_back(from, +1);
      events.emplace_back(to, -1);
    }
    std::sort(events.begin(), events.end());  // at equal times releases come first
    int now = 0, best = 0;
    for (const auto& e : events) best = std::max(best, now += e.second);
    return best;
  }

  const std::string& errors() const { return errors_; }

 private:
  struct Worker {
    pid_t pid;
    int fd;
    std::string partial;          // a line not complete yet
    std::map<int, int64_t> open;  // thread -> when its current permit was granted
  };

  void drain(Worker& w) {
    char buf[4096];
    ssize_t n;
    while ((n = read(w.fd, buf, sizeof buf)) > 0) w.partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = w.partial.find('\n')) != std::string::npos) {
      line(w, w.partial.substr(0, nl));
      w.partial.erase(0, nl + 1);
    }
  }

  void line(Worker& w, const std::string& text) {
    std::istringstream in(text);
    char kind = 0;
    int thread = 0;
    long long t = 0;
    in >> kind;
    if (kind == 'E') {
      errors_ += "worker " + std::to_string(w.pid) + ": " + text + "\n";
      return;
    }
    in >> thread >> t;
    if (kind == 'G') {
      w.open[thread] = t;
      grant_times_.push_back(t);
    } else if (kind == 'R' && w.open.count(thread) != 0) {
      held_.emplace_back(w.open[thread], t);
      w.open.erase(thread);
    }
  }

  // Its permits count as held until just before the signal: alive up to then for sure, it
  // may die at any moment after, and its permits may be granted again as soon as it has.
  void end_worker(Worker& w) {
    const int64_t last_alive = mono_ns();
    kill(w.pid, SIGKILL);
    waitpid(w.pid, nullptr, 0);
    drain(w);  // what it wrote before it died
    close(w.fd);
    for (const auto& [thread, from] : w.open) held_.emplace_back(from, last_alive);
  }

  std::string uri_, name_;
  int threads_, hold_us_;
  std::vector<Worker> workers_;
  std::vector<int64_t> grant_times_;
  std::vector<std::pair<int64_t, int64_t>> held_;  // [granted, released or died]
  std::string errors_;
};

}  // namespace ptl_test
