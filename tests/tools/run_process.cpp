// SPDX-License-Identifier: MIT
#include "run_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ptl_test {
namespace {

std::string temp_path(const char* stream) {
  static std::atomic<int> counter{0};
  const char* dir = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
  return std::string(dir != nullptr ? dir : "/tmp") + "/ptl-process-" + std::to_string(getpid()) +
         "-" + std::to_string(counter++) + "." + stream;
}

using Clock = std::chrono::steady_clock;

Clock::time_point after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

Process::Process(const std::vector<std::string>& argv)
    : out_path_(temp_path("out")), err_path_(temp_path("err")) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  const int rc = posix_spawn(&pid_, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("posix_spawn " + argv[0] + " failed");
  }
}

Process::~Process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

std::string Process::read(const std::string& path) const {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Process::wait_for_lines(size_t lines, double timeout_seconds) const {
  const auto deadline = after(timeout_seconds);
  while (Clock::now() < deadline) {
    const std::string out = read(out_path_);
    if (static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) >= lines) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void Process::signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

ProcessResult Process::finish(double timeout_seconds) {
  ProcessResult result;
  const auto deadline = after(timeout_seconds);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      status = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = -1;
  if (status != -1) {
    result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  result.out = read(out_path_);
  result.err = read(err_path_);
  return result;
}

ProcessResult run(const std::vector<std::string>& argv, double timeout_seconds) {
  Process p(argv);
  return p.finish(timeout_seconds);
}

}  // namespace ptl_test
