// SPDX-License-Identifier: MIT
// Policies across real processes on redis:// (ADR 15): a three-limit policy (requests per
// window, tokens per window, tokens held) hammered by four processes, checked from
// outside on the server's clock; and a killed holder's held amounts coming back.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "policy_util.hpp"
#include "stamp_slack.hpp"

extern char** environ;

namespace ptl_test {
namespace {

using core::Status;

pid_t spawn(std::vector<std::string> args, int* stdout_fd = nullptr) {
  args.insert(args.begin(), PTL_REDIS_POLICY_WORKER);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int fds[2] = {-1, -1};
  if (stdout_fd != nullptr) {
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
  }
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, PTL_REDIS_POLICY_WORKER, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  if (stdout_fd != nullptr) {
    close(fds[1]);
    *stdout_fd = fds[0];
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Grant {
  int64_t granted = 0, released = 0;  // server us, inside the true holding interval
  uint64_t tokens = 0;
};

std::vector<Grant> read_log(const std::string& file) {
  std::vector<Grant> out;
  std::ifstream in(file);
  Grant g;
  while (in >> g.granted >> g.released >> g.tokens) out.push_back(g);
  return out;
}

// The most of `weight` granted within any span shorter than span_us, by logged grant
// times. A logged time is at most the slack after the true one, so with span = window -
// slack a value above the max proves that some closed window held more.
template <typename Weight>
uint64_t most_in_span(std::vector<Grant> grants, int64_t span_us, Weight weight) {
  std::sort(grants.begin(), grants.end(),
            [](const Grant& a, const Grant& b) { return a.granted < b.granted; });
  uint64_t best = 0, sum = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < grants.size(); ++hi) {
    sum += weight(grants[hi]);
    while (grants[hi].granted - grants[lo].granted >= span_us) sum -= weight(grants[lo++]);
    best = std::max(best, sum);
  }
  return best;
}

// The most tokens held at one instant by the logged holding intervals, each inside its
// permit's true one: never above the true maximum.
uint64_t most_held(const std::vector<Grant>& grants) {
  std::vector<std::pair<int64_t, int64_t>> events;
  for (const Grant& g : grants) {
    events.emplace_back(g.granted, static_cast<int64_t>(g.tokens));
    events.emplace_back(g.released, -static_cast<int64_t>(g.tokens));
  }
  std::sort(events.begin(), events.end());  // at equal times releases come first
  int64_t now = 0, best = 0;
  for (const auto& e : events) best = std::max(best, now += e.second);
  return static_cast<uint64_t>(best);
}

TEST(RedisPolicyMultiProcess, ThreeLimitsHoldInEveryWindowAcrossProcesses) {
  constexpr int kProcesses = 4, kThreads = 2, kGrants = 12;
  constexpr uint64_t kRequests = 12, kTokens = 100, kHeld = 40;
  constexpr int64_t kWindowUs = 1'000'000;
  constexpr int64_t kSlackUs = kStampSlackUs;  // how late a logged stamp may be
  const std::string uri = redis().uri("prefix=polmp");
  auto reg = open_reg(uri);
  reg->register_limiter("three",
                        make_policy({{"requests", kRequests, kWindowUs * 1000},
                                     {"tokens", kTokens, kWindowUs * 1000},
                                     {"tokens", kHeld, 0}}),
                        true);
  std::vector<pid_t> pids;
  std::vector<std::string> files;
  for (int i = 0; i < kProcesses; ++i) {
    files.push_back(redis().dir() + "/policy-grants-" + std::to_string(i));
    pids.push_back(spawn({"hammer", uri, "three", std::to_string(kThreads), std::to_string(kGrants),
                          std::to_string(i + 1), files.back()}));
  }
  std::vector<Grant> all;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(wait_exit(pids[i]), 0) << "worker " << i;
    const std::vector<Grant> g = read_log(files[i]);
    all.insert(all.end(), g.begin(), g.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kProcesses * kThreads * kGrants));
  const int64_t span = kWindowUs - kSlackUs;
  const uint64_t requests = most_in_span(all, span, [](const Grant&) { return uint64_t{1}; });
  const uint64_t tokens = most_in_span(all, span, [](const Grant& g) { return g.tokens; });
  const uint64_t held = most_held(all);
  EXPECT_LE(requests, kRequests);
  EXPECT_LE(tokens, kTokens);
  EXPECT_LE(held, kHeld);
  // The run was limited: its tokens need that many windows at least.
  uint64_t total = 0;
  int64_t first = all.front().granted, last = first;
  for (const Grant& g : all) {
    total += g.tokens;
    first = std::min(first, g.granted);
    last = std::max(last, g.granted);
  }
  EXPECT_GE(last - first, static_cast<int64_t>(total / kTokens - 1) * kWindowUs - kSlackUs);
  std::printf(
      "[redis] %zu grants, %llu tokens; most per window: %llu requests, %llu tokens; "
      "most tokens held %llu\n",
      all.size(), static_cast<unsigned long long>(total), static_cast<unsigned long long>(requests),
      static_cast<unsigned long long>(tokens), static_cast<unsigned long long>(held));
  core::LimiterPtr lim = reg->get("three");
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
  const core::StatsSnapshot st = lim->stats();
  EXPECT_EQ(st.total_acquired, all.size());
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.waiting, 0u);
}

TEST(RedisPolicyMultiProcess, AKilledHoldersHeldAmountsComeBack) {
  constexpr int64_t kLease = 1 * kPolSec;
  const std::string uri = redis().uri("prefix=polkill&lease=1");
  settle_server(redis(), kLease);
  auto reg = open_reg(uri);
  reg->register_limiter("held", make_policy({{"tokens", 10, 0}, {"requests", 100, 0}}), true);
  core::LimiterPtr lim = reg->get("held");
  int out = -1;
  const pid_t pid = spawn({"hold", uri, "held", "7"}, &out);
  char buf[8] = {};
  ASSERT_EQ(read(out, buf, 5), 5) << "the worker did not take its permit";
  close(out);
  EXPECT_EQ(lim->usage("tokens", 0).used, 7u);
  EXPECT_EQ(lim->usage("requests", 0).used, 1u);
  core::PermitId p = 0;
  EXPECT_EQ(lim->try_acquire(Ask{{"tokens", 4}}, &p, nullptr), Status::kAgain);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  waitpid(pid, nullptr, 0);
  // Waits on the dead holder's 7 tokens: its session's end gives them all back.
  ASSERT_EQ(lim->acquire(Ask{{"tokens", 10}}, 30 * kPolSec, &p), Status::kOk);
  EXPECT_EQ(lim->usage("tokens", 0).used, 10u);
  EXPECT_EQ(lim->usage("requests", 0).used, 1u) << "the dead holder's request came back too";
  lim->release(p, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
}

}  // namespace
}  // namespace ptl_test
