// SPDX-License-Identifier: MIT
// ptl-demo's command line as a user meets it: --help lists every option, --version names
// the tool and the library, and a bad command line gets one line saying what was expected
// (not the whole usage) and exit status 2, before anything runs.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <string>
#include <utility>
#include <vector>

#include "run_process.hpp"

namespace ptl_test {
namespace {

constexpr double kHangGuard = 30;  // seconds; a guard against hangs, not a speed check

TEST(PtlDemoCli, HelpListsEveryOptionAndVersionNamesTheLibrary) {
  for (const char* flag : {"--help", "-h"}) {
    const ProcessResult help = run({PTL_DEMO, flag}, kHangGuard);
    EXPECT_EQ(help.exit_status, 0) << help.err;
    for (const char* option :
         {"--uri", "--processes", "--adaptive", "--scenario", "--hidden-limit", "--time-scale",
          "--items", "--seed", "--json", "--svg", "--version", "Exit status"}) {
      EXPECT_NE(help.out.find(option), std::string::npos) << option << help.out;
    }
    EXPECT_EQ(help.out.find("--internal-child"), std::string::npos) << "internal" << help.out;
  }
  const ProcessResult version = run({PTL_DEMO, "--version"}, kHangGuard);
  EXPECT_EQ(version.exit_status, 0) << version.err;
  EXPECT_EQ(version.out, std::string("ptl-demo ") + ptl_version_string() + "\n");
}

TEST(PtlDemoCli, BadUsageSaysWhatWasExpectedInOneLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--items", "x"}, "--items: expected an integer 1..1000000, got 'x'"},
      {{"--items=0"}, "--items: expected an integer 1..1000000, got '0'"},
      {{"--time-scale", "nan"}, "--time-scale: expected a number > 0 and <= 1e6, got 'nan'"},
      {{"--scenario", "chaos"}, "--scenario: expected services, adaptive or tokens, got 'chaos'"},
      {{"--processes", "65"}, "--processes: expected an integer 1..64, got '65'"},
      {{"--seed"}, "--seed needs a value"},
      {{"--bogus"}, "unknown option '--bogus'"},
      {{"extra"}, "unexpected argument 'extra'"},
      {{"--hidden-limit", "3"}, "--hidden-limit goes with --adaptive"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv = {PTL_DEMO};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult r = run(argv, kHangGuard);
    EXPECT_EQ(r.exit_status, 2) << args[0] << ": " << r.err;
    EXPECT_EQ(r.err, "ptl-demo: " + message + "\nRun 'ptl-demo --help' for usage.\n");
    EXPECT_EQ(r.out, "") << "nothing ran";
  }
}

}  // namespace
}  // namespace ptl_test
