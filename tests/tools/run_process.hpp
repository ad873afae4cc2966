// SPDX-License-Identifier: MIT
// Runs a program with its output captured in files, as a shell would: for the tests of
// command-line tools. Nothing here depends on the library.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ptl_test {

struct ProcessResult {
  int exit_status = -1;  // exit code; 128 + signal if killed; -1 if it had to be killed
  std::string out, err;
};

// A started program whose stdout and stderr go to temporary files.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();  // kills the program if it still runs

  // Waits up to `timeout_seconds` for stdout to hold `lines` lines; false on timeout.
  bool wait_for_lines(size_t lines, double timeout_seconds) const;
  void signal(int sig) const;
  // Waits up to `timeout_seconds` for the exit (then kills it) and collects the output.
  ProcessResult finish(double timeout_seconds);

 private:
  std::string read(const std::string& path) const;
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
};

// Runs argv to completion (killed after `timeout_seconds`, a hang guard).
ProcessResult run(const std::vector<std::string>& argv, double timeout_seconds = 30);

}  // namespace ptl_test
