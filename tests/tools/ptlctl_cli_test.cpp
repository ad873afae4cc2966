// SPDX-License-Identifier: MIT
// ptlctl's command-line conventions, as a user meets them: --help and --version on every
// command, one-line usage errors that name the command and what was expected, tables that
// line up for UTF-8 names, and watch --json lines that carry the time of their sample.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "run_process.hpp"

namespace ptl_test {
namespace {

constexpr double kHangGuard = 30;  // seconds; a guard against hangs, not a speed check

const std::vector<std::string> kCommands = {"list",   "stats",   "watch",  "register",
                                            "remove", "destroy", "presets"};

std::vector<std::string> rows_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Terminal columns of the UTF-8 text `s`, for the names these tests use: one per code
// point, two for the CJK Unified Ideographs (U+4E00..U+9FFF: lead bytes E4..E9), none for
// the combining diacritics (U+0300..U+036F: lead bytes CC, CD).
size_t columns(const std::string& s) {
  size_t n = 0;
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte & 0xC0) == 0x80 || byte == 0xCC || byte == 0xCD) continue;
    n += byte >= 0xE4 && byte <= 0xE9 ? 2 : 1;
  }
  return n;
}

// The column at which the second cell of a table row starts (after the first run of
// blanks that follows the first cell).
size_t second_cell_column(const std::string& row) {
  const size_t blank = row.find("  ");
  const size_t cell = row.find_first_not_of(' ', blank);
  return columns(row.substr(0, cell));
}

class PtlctlCli : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    segment_ = "ptlctl-cli-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    shm_unlink(("/ptl." + segment_).c_str());
    uri_ = "shm://" + segment_;
    ASSERT_EQ(ptl_registry_open(uri_.c_str(), &reg_), PTL_OK) << ptl_last_error();
  }
  void TearDown() override {
    ptl_registry_close(reg_);
    shm_unlink(("/ptl." + segment_).c_str());
  }

  ProcessResult ptlctl(std::vector<std::string> args) {
    args.insert(args.begin(), {PTLCTL, "--uri", uri_});
    return run(args, kHangGuard);
  }

  void register_here(const std::string& name, uint32_t conc) {
    ptl_limiter_config cfg;
    ptl_limiter_config_init(&cfg);
    cfg.max_concurrent = conc;
    ASSERT_EQ(ptl_registry_register(reg_, name.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
  }

  std::string segment_, uri_;
  ptl_registry* reg_ = nullptr;
};

TEST_F(PtlctlCli, EveryCommandHasItsOwnHelpAndTheVersion) {
  const ProcessResult top = run({PTLCTL, "--help"}, kHangGuard);
  ASSERT_EQ(top.exit_status, 0) << top.err;
  EXPECT_NE(top.out.find("Usage: ptlctl "), std::string::npos) << top.out;
  for (const std::string& command : kCommands) {
    EXPECT_NE(top.out.find("\n  " + command + " "), std::string::npos) << command << top.out;
    for (const char* flag : {"--help", "-h"}) {
      const ProcessResult help = run({PTLCTL, command, flag}, kHangGuard);
      EXPECT_EQ(help.exit_status, 0) << command << flag << help.err;
      EXPECT_NE(help.out.find("Usage: ptlctl " + command + " "), std::string::npos) << help.out;
    }
    const ProcessResult version = run({PTLCTL, command, "--version"}, kHangGuard);
    EXPECT_EQ(version.exit_status, 0) << command << version.err;
    EXPECT_EQ(version.out, std::string("ptlctl ") + ptl_version_string() + "\n");
  }
  const ProcessResult reg = run({PTLCTL, "register", "--help"}, kHangGuard);
  for (const char* option : {"--max-concurrent", "--window", "--limit", "--preset-policy",
                             "--replace", "--uri", "--json"}) {
    EXPECT_NE(reg.out.find(option), std::string::npos) << option << reg.out;
  }
  EXPECT_EQ(reg.out.find("--interval"), std::string::npos) << "watch's option" << reg.out;
  const ProcessResult presets = run({PTLCTL, "presets", "--uri", "local:"}, kHangGuard);
  EXPECT_EQ(presets.exit_status, 0) << "every command takes --uri: " << presets.err;
  const ProcessResult watch = run({PTLCTL, "watch", "--help"}, kHangGuard);
  EXPECT_NE(watch.out.find("--interval"), std::string::npos) << watch.out;
  EXPECT_EQ(watch.out.find("--max-concurrent"), std::string::npos) << watch.out;
}

// Two lines: the command, the option and what was expected; then where the help is.
TEST_F(PtlctlCli, UsageErrorsSayWhatWasExpectedWithoutTheWholeUsage) {
  const ProcessResult r = ptlctl({"register", "x", "--max-concurrent", "x"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_EQ(r.err,
            "ptlctl: register: --max-concurrent: expected a non-negative integer, got 'x'\n"
            "Run 'ptlctl register --help' for usage.\n");
  EXPECT_EQ(r.out, "");
  const ProcessResult top = run({PTLCTL, "frobnicate"}, kHangGuard);
  EXPECT_EQ(top.exit_status, 2);
  EXPECT_EQ(top.err, "ptlctl: unknown command 'frobnicate'\nRun 'ptlctl --help' for usage.\n");
  const ProcessResult watch = ptlctl({"watch", "x", "--interval", "-1"});
  EXPECT_EQ(watch.exit_status, 2);
  EXPECT_EQ(watch.err,
            "ptlctl: watch: --interval: expected a number of seconds > 0, got '-1'\n"
            "Run 'ptlctl watch --help' for usage.\n");
  EXPECT_EQ(ptl_registry_exists(reg_, "x"), 0);
}

TEST_F(PtlctlCli, ListColumnsLineUpForUtf8Names) {
  const std::vector<std::string> names = {"plain",
                                          "\xC3\xBC"
                                          "berlimit",                              // überlimit
                                          "\xE9\x99\x90\xE6\xB5\x81\xE5\x99\xA8",  // 限流器
                                          "cafe\xCC\x81"};  // café, e and a combining acute
  for (const std::string& name : names) register_here(name, 7);
  const ProcessResult r = ptlctl({"list"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const std::vector<std::string> rows = rows_of(r.out);
  ASSERT_EQ(rows.size(), 5u) << r.out;
  const size_t header = second_cell_column(rows[0]);
  EXPECT_EQ(header, columns("berlimit") + 1 + 2) << "the widest name and two blanks";
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(second_cell_column(rows[i]), header) << r.out;
  }
}

// "2026-12-07T23:59:58.123Z" as Unix milliseconds; -1 if it is not that form.
int64_t rfc3339_ms(const std::string& text) {
  static const std::regex kForm(R"((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z)");
  std::smatch m;
  if (!std::regex_match(text, m, kForm)) return -1;
  tm t{};
  t.tm_year = std::stoi(m[1]) - 1900;
  t.tm_mon = std::stoi(m[2]) - 1;
  t.tm_mday = std::stoi(m[3]);
  t.tm_hour = std::stoi(m[4]);
  t.tm_min = std::stoi(m[5]);
  t.tm_sec = std::stoi(m[6]);
  return int64_t{timegm(&t)} * 1000 + std::stoi(m[7]);
}

std::string json_text(const std::string& object, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = object.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  return object.substr(start, object.find_first_of(",}", start) - start);
}

TEST_F(PtlctlCli, WatchJsonLinesCarryTheTimeOfTheirSample) {
  register_here("timed", 2);
  timespec before{};
  clock_gettime(CLOCK_REALTIME, &before);
  const ProcessResult r =
      ptlctl({"watch", "timed", "--interval", "0.05", "--count", "3", "--json"});
  timespec after{};
  clock_gettime(CLOCK_REALTIME, &after);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const std::vector<std::string> lines = rows_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  int64_t previous = int64_t{before.tv_sec} * 1000 + before.tv_nsec / 1000000;
  for (const std::string& line : lines) {
    const std::string time = json_text(line, "time");
    ASSERT_GE(time.size(), 2u) << line;
    const int64_t ms = rfc3339_ms(time.substr(1, time.size() - 2));
    ASSERT_NE(ms, -1) << line;
    EXPECT_EQ(std::to_string(ms), json_text(line, "unix_ms")) << line;
    EXPECT_GT(ms, previous) << "samples 50 ms apart, after the start: " << line;
    previous = ms;
  }
  EXPECT_LE(previous, int64_t{after.tv_sec} * 1000 + after.tv_nsec / 1000000 + 1);
}

}  // namespace
}  // namespace ptl_test
