// SPDX-License-Identifier: MIT
// ptlctl against an shm:// registry that this test process shares with it: what the tool
// registers, the program sees; what the program holds, the tool shows; bad usage and an
// unreachable server give exit statuses 2 and 1 with messages naming the problem.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_process.hpp"

namespace ptl_test {
namespace {

constexpr double kHangGuard = 30;  // seconds; a guard against hangs, not a speed check

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of "key": in a one-line JSON object written by ptlctl ("" if absent).
std::string json_field(const std::string& object, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = object.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  const size_t end = object.find_first_of(",}", start);
  return object.substr(start, end - start);
}

class Ptlctl : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    segment_ = "ptlctl-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    shm_unlink(("/ptl." + segment_).c_str());
    uri_ = "shm://" + segment_;
    ASSERT_EQ(ptl_registry_open(uri_.c_str(), &reg_), PTL_OK) << ptl_last_error();
  }
  void TearDown() override {
    for (auto& [lim, permit] : held_) ptl_release(lim, permit);
    for (auto& [lim, permit] : held_) ptl_limiter_unref(lim);
    ptl_registry_close(reg_);
    shm_unlink(("/ptl." + segment_).c_str());
  }

  ProcessResult ptlctl(std::vector<std::string> args) {
    args.insert(args.begin(), {PTLCTL, "--uri", uri_});
    return run(args, kHangGuard);
  }

  void register_here(const char* name, uint32_t conc, uint64_t per_window, double window) {
    ptl_limiter_config cfg;
    ptl_limiter_config_init(&cfg);
    cfg.max_concurrent = conc;
    cfg.max_per_window = per_window;
    cfg.window_seconds = window;
    ASSERT_EQ(ptl_registry_register(reg_, name, &cfg, 0), PTL_OK) << ptl_last_error();
  }

  // Takes `n` permits of `name` in this process, held until the test ends.
  void hold(const char* name, int n) {
    for (int i = 0; i < n; ++i) {
      ptl_limiter* lim = nullptr;
      ASSERT_EQ(ptl_registry_get(reg_, name, &lim), PTL_OK) << ptl_last_error();
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
      held_.emplace_back(lim, p);
    }
  }

  std::string segment_, uri_;
  ptl_registry* reg_ = nullptr;
  std::vector<std::pair<ptl_limiter*, ptl_permit>> held_;
};

TEST_F(Ptlctl, RegisterCreatesTheLimiterOtherProcessesUse) {
  const ProcessResult r = ptlctl({"register", "openai", "--max-concurrent", "10",
                                  "--max-per-window", "60", "--window", "0.5", "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(json_field(r.out, "max_concurrent"), "10");
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  ASSERT_EQ(ptl_registry_stats(reg_, "openai", &s), PTL_OK) << ptl_last_error();
  EXPECT_EQ(s.config.max_concurrent, 10u);
  EXPECT_EQ(s.config.max_per_window, 60u);
  EXPECT_EQ(s.config.window_seconds, 0.5);
  EXPECT_EQ(s.config.max_cost_per_window, 0u);
}

TEST_F(Ptlctl, ListAndStatsShowWhatOtherProcessesHold) {
  register_here("alpha", 5, 100, 60);
  register_here("beta", 2, 0, 60);
  hold("alpha", 3);
  const ProcessResult table = ptlctl({"list"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  const std::vector<std::string> rows = lines_of(table.out);
  ASSERT_EQ(rows.size(), 3u) << table.out;  // header, alpha, beta (name order)
  EXPECT_EQ(rows[1].rfind("alpha ", 0), 0u) << rows[1];
  EXPECT_NE(rows[1].find(" 3/5 "), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find(" 3/100 "), std::string::npos) << rows[1];
  EXPECT_EQ(rows[2].rfind("beta ", 0), 0u) << rows[2];
  EXPECT_NE(rows[2].find(" 0/2 "), std::string::npos) << rows[2];

  const ProcessResult json = ptlctl({"stats", "alpha", "--json"});
  ASSERT_EQ(json.exit_status, 0) << json.err;
  EXPECT_EQ(json_field(json.out, "name"), "\"alpha\"");
  EXPECT_EQ(json_field(json.out, "in_flight"), "3");
  EXPECT_EQ(json_field(json.out, "window_count"), "3");
  EXPECT_EQ(json_field(json.out, "total_acquired"), "3");
  EXPECT_EQ(json_field(json.out, "max_per_window"), "100");

  const ProcessResult listed = ptlctl({"--json", "list"});
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_EQ(listed.out.front(), '[');
  EXPECT_LT(listed.out.find("\"alpha\""), listed.out.find("\"beta\""));
}

TEST_F(Ptlctl, ReplaceChangesLimitsAndKeepsWhatIsHeld) {
  register_here("svc", 3, 0, 60);
  hold("svc", 2);
  const ProcessResult r =
      ptlctl({"register", "svc", "--max-concurrent", "4", "--replace", "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(json_field(r.out, "max_concurrent"), "4");
  EXPECT_EQ(json_field(r.out, "in_flight"), "2");
  const ProcessResult again = ptlctl({"register", "svc", "--max-concurrent", "4"});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("PTL_EEXIST"), std::string::npos) << again.err;
}

TEST_F(Ptlctl, ReplaceChangesOnlyTheLimitsGiven) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = 3;
  cfg.max_per_window = 100;
  cfg.window_seconds = 30;
  cfg.max_cost_per_window = 5000;
  ASSERT_EQ(ptl_registry_register(reg_, "svc", &cfg, 0), PTL_OK) << ptl_last_error();
  const ProcessResult r =
      ptlctl({"register", "svc", "--max-concurrent", "20", "--replace", "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(json_field(r.out, "max_concurrent"), "20");
  EXPECT_EQ(json_field(r.out, "max_per_window"), "100");
  EXPECT_EQ(json_field(r.out, "window_seconds"), "30");
  EXPECT_EQ(json_field(r.out, "max_cost_per_window"), "5000");
  // Without --max-concurrent: the other limits, given, change; the concurrency stays.
  const ProcessResult w = ptlctl(
      {"register", "svc", "--replace", "--window", "60", "--max-cost-per-window", "0", "--json"});
  ASSERT_EQ(w.exit_status, 0) << w.err;
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  ASSERT_EQ(ptl_registry_stats(reg_, "svc", &s), PTL_OK) << ptl_last_error();
  EXPECT_EQ(s.config.max_concurrent, 20u);
  EXPECT_EQ(s.config.max_per_window, 100u);
  EXPECT_EQ(s.config.window_seconds, 60.0);
  EXPECT_EQ(s.config.max_cost_per_window, 0u);
  // A name that does not exist: the usual defaults, and creating needs --max-concurrent.
  const ProcessResult absent = ptlctl({"register", "new", "--replace", "--max-per-window", "5"});
  EXPECT_EQ(absent.exit_status, 1);
  EXPECT_NE(absent.err.find("PTL_ENOTFOUND"), std::string::npos) << absent.err;
  EXPECT_NE(absent.err.find("--max-concurrent"), std::string::npos) << absent.err;
  EXPECT_EQ(ptl_registry_exists(reg_, "new"), 0);
  const ProcessResult created =
      ptlctl({"register", "new", "--replace", "--max-concurrent", "2", "--json"});
  ASSERT_EQ(created.exit_status, 0) << created.err;
  EXPECT_EQ(json_field(created.out, "max_per_window"), "0");
  EXPECT_EQ(json_field(created.out, "window_seconds"), "60");
}

// The policy of limiter `name` as the library reports it, as --limit arguments.
std::string policy_here(ptl_registry* reg, const char* name) {
  ptl_limiter* lim = nullptr;
  if (ptl_registry_get(reg, name, &lim) != PTL_OK) return ptl_last_error();
  ptl_limit limits[PTL_MAX_LIMITS];
  size_t n = 0;
  const int rc = ptl_limiter_get_policy(lim, limits, PTL_MAX_LIMITS, &n);
  ptl_limiter_unref(lim);
  if (rc != PTL_OK) return ptl_last_error();
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += (i == 0 ? "" : " ") + std::string(limits[i].unit) + ":" + std::to_string(limits[i].max) +
           "/" + std::to_string(limits[i].window_ns);
  }
  return out;
}

// The line of `text` that starts with `start` and contains every one of `parts` ("" if none).
std::string line_with(const std::string& text, const std::string& start,
                      const std::vector<std::string>& parts) {
  for (const std::string& line : lines_of(text)) {
    if (line.rfind(start, 0) != 0) continue;
    bool all = true;
    for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return line;
  }
  return "";
}

TEST_F(Ptlctl, RegisterWithLimitsMakesThePolicyOtherProcessesUse) {
  const ProcessResult r =
      ptlctl({"register", "llm", "--limit", "requests:2", "--limit", "requests:500/1m",
              "--limit=tokens:2000000/24h", "--limit", "burst:5/500ms", "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(policy_here(reg_, "llm"),
            "requests:2/0 requests:500/60000000000 tokens:2000000/86400000000000 "
            "burst:5/500000000");
  EXPECT_NE(r.out.find("\"limits\":[{\"unit\":\"requests\",\"max\":2,\"window_seconds\":0,"
                       "\"used\":0,\"observed_cap\":null,\"next_room_seconds\":0}"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("{\"unit\":\"tokens\",\"max\":2000000,\"window_seconds\":86400,"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(json_field(r.out, "max_concurrent"), "2") << "the 0.1 view of the policy";

  // --replace with limits sets the whole policy, keeping what is held.
  hold("llm", 1);
  const ProcessResult replaced =
      ptlctl({"register", "llm", "--replace", "--limit", "requests:3", "--limit", "tokens:100/1m"});
  ASSERT_EQ(replaced.exit_status, 0) << replaced.err;
  EXPECT_EQ(policy_here(reg_, "llm"), "requests:3/0 tokens:100/60000000000");
  EXPECT_NE(line_with(replaced.out, "requests", {"held", "1/3"}), "") << replaced.out;

  // A policy the library refuses: status 1 with its message.
  const ProcessResult twice =
      ptlctl({"register", "bad", "--limit", "tokens:5/1m", "--limit", "tokens:9/60s"});
  EXPECT_EQ(twice.exit_status, 1);
  EXPECT_NE(twice.err.find("PTL_EINVAL"), std::string::npos) << twice.err;
  EXPECT_EQ(ptl_registry_exists(reg_, "bad"), 0);
}

TEST_F(Ptlctl, StatsShowsEveryLimitWithItsUse) {
  const ptl_limit limits[] = {
      {"requests", 1, 0}, {"requests", 100, 60 * PTL_SECOND}, {"tokens", 1000, 60 * PTL_SECOND}};
  ptl_policy policy;
  ptl_policy_init(&policy);
  policy.n_limits = 3;
  policy.limits = limits;
  ASSERT_EQ(ptl_registry_register_policy(reg_, "llm", &policy, 0), PTL_OK) << ptl_last_error();
  ptl_limiter* lim = nullptr;
  ASSERT_EQ(ptl_registry_get(reg_, "llm", &lim), PTL_OK);
  const ptl_amount estimate = {"tokens", 250};
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire_amounts(lim, &estimate, 1, 0, &p), PTL_OK) << ptl_last_error();
  held_.emplace_back(lim, p);
  ASSERT_EQ(ptl_observe(lim, "tokens", 400, 60 * PTL_SECOND), PTL_OK) << ptl_last_error();

  const ProcessResult text = ptlctl({"stats", "llm"});
  ASSERT_EQ(text.exit_status, 0) << text.err;
  EXPECT_NE(line_with(text.out, "UNIT", {"WINDOW", "USED", "OBSERVED_CAP", "NEXT_ROOM"}), "")
      << text.out;
  EXPECT_NE(line_with(text.out, "requests", {" held ", " 1/1 ", " - ", " on release"}), "")
      << text.out;
  EXPECT_NE(line_with(text.out, "requests", {" 1m ", " 1/100 ", " now"}), "") << text.out;
  EXPECT_NE(line_with(text.out, "tokens", {" 1m ", " 250/1000 ", " 400 ", " now"}), "") << text.out;

  const ProcessResult json = ptlctl({"stats", "llm", "--json"});
  ASSERT_EQ(json.exit_status, 0) << json.err;
  EXPECT_NE(json.out.find("{\"unit\":\"requests\",\"max\":1,\"window_seconds\":0,\"used\":1,"
                          "\"observed_cap\":null,\"next_room_seconds\":null}"),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("{\"unit\":\"tokens\",\"max\":1000,\"window_seconds\":60,\"used\":250,"
                          "\"observed_cap\":400,\"next_room_seconds\":0}"),
            std::string::npos)
      << json.out;
}

TEST_F(Ptlctl, ListShowsEachPolicyAsItsLimitArguments) {
  const ProcessResult made = ptlctl({"register", "llm", "--limit", "requests:2", "--limit",
                                     "requests:500/1m", "--limit", "tokens:30000/60s"});
  ASSERT_EQ(made.exit_status, 0) << made.err;
  register_here("old", 5, 100, 90);
  const ProcessResult table = ptlctl({"list"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  const std::vector<std::string> rows = lines_of(table.out);
  ASSERT_EQ(rows.size(), 3u) << table.out;
  EXPECT_NE(rows[0].find("POLICY"), std::string::npos) << rows[0];
  EXPECT_NE(rows[1].find(" requests:2 requests:500/1m tokens:30000/1m"), std::string::npos)
      << rows[1];
  EXPECT_NE(rows[2].find(" requests:5"), std::string::npos) << rows[2];
  EXPECT_NE(rows[2].find(" requests:100/90s"), std::string::npos) << rows[2];
  const ProcessResult json = ptlctl({"list", "--json"});
  ASSERT_EQ(json.exit_status, 0) << json.err;
  EXPECT_NE(json.out.find("\"limits\":[{\"unit\":\"requests\",\"max\":2,"), std::string::npos)
      << json.out;
}

TEST_F(Ptlctl, RegisterFromAProviderPolicy) {
  ptl_preset_policy preset{};
  preset.struct_size = sizeof preset;
  ASSERT_EQ(ptl_preset_policy_get("openai_tier1_gpt_4o", &preset), PTL_OK) << ptl_last_error();
  std::string expected;
  for (uint32_t i = 0; i < preset.n_limits; ++i) {
    expected += (i == 0 ? "" : " ") + std::string(preset.limits[i].unit) + ":" +
                std::to_string(preset.limits[i].max) + "/" +
                std::to_string(preset.limits[i].window_ns);
  }
  const ProcessResult r = ptlctl({"register", "openai", "--preset-policy", "OPENAI_TIER1_GPT_4O"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(policy_here(reg_, "openai"), expected);
  const ProcessResult unknown = ptlctl({"register", "x", "--preset-policy", "nope"});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_NE(unknown.err.find("PTL_ENOTFOUND"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("nope"), std::string::npos) << unknown.err;
  EXPECT_EQ(ptl_registry_exists(reg_, "x"), 0);
  EXPECT_NE(unknown.err.find("ptlctl presets"), std::string::npos) << unknown.err;

  // presets lists them, as --limit arguments, without a registry.
  const ProcessResult listed = run({PTLCTL, "presets"}, kHangGuard);
  ASSERT_EQ(listed.exit_status, 0) << listed.err;
  const std::vector<std::string> rows = lines_of(listed.out);
  ASSERT_GT(rows.size(), 2u) << listed.out;
  EXPECT_EQ(rows[0].rfind("NAME", 0), 0u) << rows[0];
  EXPECT_NE(line_with(listed.out, "openai_tier1_gpt_4o ", {" requests:500/1m tokens:30000/1m "}),
            "")
      << listed.out;
  const ProcessResult json = run({PTLCTL, "presets", "--json"}, kHangGuard);
  ASSERT_EQ(json.exit_status, 0) << json.err;
  EXPECT_NE(json.out.find("{\"name\":\"openai_tier1_gpt_4o\",\"description\":"), std::string::npos)
      << json.out;
}

// Looking at a segment that does not exist must not create one (a 1 MiB file).
TEST_F(Ptlctl, ReadOnlyCommandsNeverCreateASegment) {
  const std::string absent = segment_ + "-absent";
  const std::string file = "/dev/shm/ptl." + absent;
  shm_unlink(("/ptl." + absent).c_str());
  const std::vector<std::vector<std::string>> commands = {
      {"list"}, {"stats", "x"}, {"watch", "x", "--count", "1"}, {"remove", "x"}};
  for (const std::vector<std::string>& command : commands) {
    std::vector<std::string> argv = {PTLCTL, "--uri", "shm://" + absent};
    argv.insert(argv.end(), command.begin(), command.end());
    const ProcessResult r = run(argv, kHangGuard);
    EXPECT_EQ(r.exit_status, 1) << command[0] << ": " << r.err;
    EXPECT_NE(r.err.find("PTL_ENOTFOUND"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
    EXPECT_NE(access(file.c_str(), F_OK), 0) << command[0] << " created " << file;
  }
  // An explicit create= in the URI is the user's to give.
  const ProcessResult made = run({PTLCTL, "--uri", "shm://" + absent + "?create=1", "list"});
  EXPECT_EQ(made.exit_status, 0) << made.err;
  EXPECT_EQ(access(file.c_str(), F_OK), 0);
  shm_unlink(("/ptl." + absent).c_str());
}

TEST_F(Ptlctl, DestroyRefusesWhileAProcessIsAttachedUnlessForced) {
  const std::string file = "/dev/shm/ptl." + segment_;
  // This test process has the segment open.
  const ProcessResult refused = ptlctl({"destroy"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("PTL_EAGAIN"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("1 other process is attached"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(std::to_string(getpid())), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_EQ(access(file.c_str(), F_OK), 0);
  const ProcessResult forced = ptlctl({"destroy", "--force", "--json"});
  ASSERT_EQ(forced.exit_status, 0) << forced.err;
  EXPECT_EQ(forced.out, "{\"destroyed\":\"" + uri_ + "\"}\n");
  EXPECT_NE(access(file.c_str(), F_OK), 0);
  const ProcessResult again = ptlctl({"destroy"});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("PTL_ENOTFOUND"), std::string::npos) << again.err;

  // Nobody attached: no --force needed.
  ptl_registry_close(reg_);
  reg_ = nullptr;
  ptl_registry* other = nullptr;
  ASSERT_EQ(ptl_registry_open(uri_.c_str(), &other), PTL_OK) << ptl_last_error();
  ptl_registry_close(other);
  const ProcessResult unused = ptlctl({"destroy"});
  ASSERT_EQ(unused.exit_status, 0) << unused.err;
  EXPECT_EQ(unused.out, "destroyed " + uri_ + "\n");
  EXPECT_NE(access(file.c_str(), F_OK), 0);

  // Nothing to destroy on local: and redis://: exit 1, pointing to reset.
  for (const char* uri : {"local:", "redis://:hunter2@127.0.0.1:1"}) {
    const ProcessResult r = run({PTLCTL, "--uri", uri, "destroy"}, kHangGuard);
    EXPECT_EQ(r.exit_status, 1) << uri;
    EXPECT_NE(r.err.find("PTL_EINVAL"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("reset"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
  }
}

TEST_F(Ptlctl, WatchPrintsOneLinePerIntervalWithTheGrantRate) {
  register_here("busy", 4, 0, 60);
  register_here("idle", 4, 0, 60);
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    ptl_limiter* lim = nullptr;
    ASSERT_EQ(ptl_registry_get(reg_, "busy", &lim), PTL_OK);
    while (!stop.load()) {
      ptl_permit p = 0;
      if (ptl_acquire(lim, -1, &p) == PTL_OK) ptl_release(lim, p);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ptl_limiter_unref(lim);
  });
  const ProcessResult busy =
      ptlctl({"watch", "busy", "--interval", "0.1", "--count", "3", "--json"});
  stop = true;
  worker.join();
  ASSERT_EQ(busy.exit_status, 0) << busy.err;
  const std::vector<std::string> lines = lines_of(busy.out);
  ASSERT_EQ(lines.size(), 3u) << busy.out;
  for (const std::string& line : lines) {
    EXPECT_GT(std::stod(json_field(line, "grants_per_second")), 0.0) << line;
  }

  const ProcessResult idle = ptlctl({"watch", "idle", "--interval", "0.05", "--count", "2"});
  ASSERT_EQ(idle.exit_status, 0) << idle.err;
  const std::vector<std::string> rows = lines_of(idle.out);
  ASSERT_EQ(rows.size(), 3u) << idle.out;  // header and two rows
  EXPECT_EQ(rows[0].rfind("TIME", 0), 0u);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_NE(rows[i].find(" 0/4 "), std::string::npos) << rows[i];
    EXPECT_EQ(rows[i].substr(rows[i].size() - 4), " 0.0") << "no grants, no rate: " << rows[i];
  }
}

TEST_F(Ptlctl, WatchStopsCleanlyOnInterruptAndWhenTheLimiterGoes) {
  register_here("watched", 1, 0, 60);
  Process watcher({PTLCTL, "--uri", uri_, "watch", "watched", "--interval", "0.05"});
  ASSERT_TRUE(watcher.wait_for_lines(2, kHangGuard));
  watcher.signal(SIGINT);
  const ProcessResult interrupted = watcher.finish(kHangGuard);
  EXPECT_EQ(interrupted.exit_status, 0) << interrupted.err;

  Process orphan({PTLCTL, "--uri", uri_, "watch", "watched", "--interval", "0.05"});
  ASSERT_TRUE(orphan.wait_for_lines(2, kHangGuard));
  ASSERT_EQ(ptl_registry_remove(reg_, "watched"), PTL_OK);
  const ProcessResult gone = orphan.finish(kHangGuard);
  EXPECT_EQ(gone.exit_status, 1);
  EXPECT_NE(gone.err.find("PTL_ENOTFOUND"), std::string::npos) << gone.err;
}

TEST_F(Ptlctl, RemoveDeletesForEveryone) {
  register_here("old", 1, 0, 60);
  const ProcessResult r = ptlctl({"remove", "old"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(ptl_registry_exists(reg_, "old"), 0);
  const ProcessResult again = ptlctl({"remove", "old"});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_NE(again.err.find("PTL_ENOTFOUND"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("old"), std::string::npos) << again.err;
}

// Each bad command line exits 2 and names what is wrong; the registry is left untouched.
TEST_F(Ptlctl, BadUsageExitsTwoNamingTheProblem) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"stats"}, "expected a limiter NAME"},
      {{"list", "extra"}, "unexpected argument 'extra'"},
      {{"register", "x"}, "--max-concurrent"},
      {{"register", "x", "--max-concurrent", "0"}, "expected an integer 1..4294967295, got '0'"},
      {{"register", "x", "--max-concurrent", "-3"}, "'-3'"},
      {{"register", "x", "--max-concurrent", "2", "--window", "nan"}, "'nan'"},
      {{"register", "x", "--max-concurrent", "2", "--max-per-window", "5x"}, "'5x'"},
      {{"register", "x", "--max-concurrent"}, "needs a value"},
      {{"register", "x", "--replace"}, "needs a limit to change"},
      {{"stats", "x", "--max-concurrent", "2"}, "--max-concurrent belongs to register"},
      {{"stats", "x", "--window", "60"}, "--window belongs to register"},
      {{"list", "--count", "2"}, "--count belongs to watch"},
      {{"list", "--interval", "1"}, "--interval belongs to watch"},
      {{"list", "--bogus"}, "unknown option --bogus"},
      {{"list", "--force"}, "--force belongs to destroy"},
      {{"destroy", "x"}, "unexpected argument 'x'"},
      {{"register", "x", "--max-concurrent", "2", "--limit", "tokens:5/1m"}, "does not mix"},
      {{"register", "x", "--limit", "tokens:5", "--window", "60"}, "does not mix"},
      {{"register", "x", "--limit", "a:1", "--preset-policy", "p"}, "do not mix"},
      {{"register", "x", "--limit", "tokens"}, "UNIT:MAX[/WINDOW]"},
      {{"register", "x", "--limit", "Tokens:5"}, "unit 'Tokens'"},
      {{"register", "x", "--limit", ":5"}, "unit ''"},
      {{"register", "x", "--limit", "tokens:0/1m"}, "max '0'"},
      {{"register", "x", "--limit", "tokens:-5/1m"}, "max '-5'"},
      {{"register", "x", "--limit", "tokens:5/60"}, "window '60'"},
      {{"register", "x", "--limit", "tokens:5/0s"}, "window '0s'"},
      {{"register", "x", "--limit", "tokens:5/1y"}, "window '1y'"},
      {{"register", "x", "--limit"}, "needs a value"},
      {{"stats", "x", "--limit", "a:1"}, "--limit belongs to register"},
      {{"list", "--preset-policy", "p"}, "--preset-policy belongs to register"},
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult r = ptlctl(args);
    EXPECT_EQ(r.exit_status, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << "wanted '" << message << "' in " << r.err;
  }
  EXPECT_EQ(ptl_registry_exists(reg_, "x"), 0);

  const ProcessResult no_uri = run({PTLCTL, "list"}, kHangGuard);
  if (std::getenv("PTL_REGISTRY_URI") == nullptr) {  // NOLINT(concurrency-mt-unsafe)
    EXPECT_EQ(no_uri.exit_status, 2);
    EXPECT_NE(no_uri.err.find("--uri"), std::string::npos) << no_uri.err;
  }
}

TEST_F(Ptlctl, BackendFailuresExitOneWithoutShowingThePassword) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  const ProcessResult r =
      run({PTLCTL, "--uri", "redis://:hunter2@127.0.0.1:1", "list"}, kHangGuard);
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_EQ(r.err.find("hunter2"), std::string::npos) << r.err;
  const bool refused_or_not_built = r.err.find("PTL_EBACKEND") != std::string::npos ||
                                    r.err.find("PTL_EINVAL") != std::string::npos;
  EXPECT_TRUE(refused_or_not_built) << r.err;

  const ProcessResult bad = run({PTLCTL, "--uri", "ftp://x", "list"}, kHangGuard);
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_NE(bad.err.find("PTL_EINVAL"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ptl_test
