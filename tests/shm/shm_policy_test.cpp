// SPDX-License-Identifier: MIT
// Policies on shm:// (ADR 15), through the core API: several limits admitted together
// across real processes (ptl_shm_policy_worker), settle, observations shared between
// processes, live policy changes, and held amounts of a killed holder coming back.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry_backend.hpp"
#include "shm_policy_observer.hpp"

extern char** environ;

namespace ptl_test {
namespace {

namespace core = ptl::core;

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int64_t kMinute = 60 * kSec;
constexpr int64_t kHangGuard = 20 * kSec;

bool wait_until(const std::function<bool()>& pred, int64_t timeout_ns) {
  const int64_t end = mono_ns() + timeout_ns;
  while (!pred()) {
    if (mono_ns() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

core::PolicySpec policy(std::vector<core::LimitSpec> limits) {
  core::PolicySpec p;
  p.limits = std::move(limits);
  return p;
}

core::Demand demand(const std::vector<core::UnitAmount>& a) {
  return core::Demand{a.data(), a.size(), false};
}

class ShmPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    name_ = "ptl-policy-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    shm_unlink(("/ptl." + name_).c_str());
    reg_ = core::RegistryBackend::open(uri());
  }
  void TearDown() override {
    reg_.reset();
    shm_unlink(("/ptl." + name_).c_str());
  }
  std::string uri() const { return "shm://" + name_; }
  core::LimiterPtr make(const core::PolicySpec& p, const std::string& name = "lim") {
    reg_->register_limiter(name, p, true);
    return reg_->get(name);
  }
  // A grant that must come at once.
  core::PermitId take(core::LimiterBackend& lim, const std::vector<core::UnitAmount>& a) {
    core::PermitId p = 0;
    EXPECT_EQ(lim.try_acquire(demand(a), &p, nullptr), core::Status::kOk);
    return p;
  }
  core::Status try_take(core::LimiterBackend& lim, const std::vector<core::UnitAmount>& a,
                        core::Nanos* retry_after = nullptr) {
    core::PermitId p = 0;
    const core::Status st = lim.try_acquire(demand(a), &p, retry_after);
    if (st == core::Status::kOk) lim.release(p, std::nullopt);
    return st;
  }
  std::string name_;
  std::unique_ptr<core::RegistryBackend> reg_;
};

TEST_F(ShmPolicy, APolicyReadsBackExactlyAndA01ConfigStaysExact) {
  const core::PolicySpec p = policy({{"requests", 3, 0},
                                     {"input_tokens", 1000, kMinute},
                                     {"requests", 50, kMinute},
                                     {"output_tokens", 800, kMinute}});
  EXPECT_EQ(make(p, "three")->policy(), p);
  core::BasicConfig cfg;
  cfg.max_concurrent = 4;
  cfg.max_per_window = 7;
  cfg.window_seconds = 0.1;
  make(core::PolicySpec::from_config(cfg), "old");
  EXPECT_EQ(reg_->get("old")->policy(), core::PolicySpec::from_config(cfg));
  EXPECT_EQ(reg_->get("old")->config(), cfg);
  for (const core::NamedConfig& nc : reg_->list()) {
    if (nc.name == "old") {
      EXPECT_EQ(nc.config, cfg);
    }
  }
  // Another process (here: another registry) sees the same policy.
  std::unique_ptr<core::RegistryBackend> other = core::RegistryBackend::open(uri());
  EXPECT_EQ(other->get("three")->policy(), p);
}

TEST_F(ShmPolicy, AGrantTakesRoomInEveryLimitOrNone) {
  core::LimiterPtr lim = make(policy({{"tokens", 100, 0}, {"requests", 3, kMinute}}));
  const core::PermitId a = take(*lim, {{"tokens", 60}});
  // The tokens held limit refuses: the requests window must not count the attempt.
  EXPECT_EQ(try_take(*lim, {{"tokens", 50}}), core::Status::kAgain);
  EXPECT_EQ(lim->usage("requests", kMinute).used, 1u);
  EXPECT_EQ(lim->usage("tokens", 0).used, 60u);
  take(*lim, {{"tokens", 40}});
  take(*lim, {{"tokens", 0}});
  // Now the requests window refuses, whatever the tokens held allow.
  lim->release(a, std::nullopt);
  EXPECT_EQ(try_take(*lim, {{"tokens", 1}}), core::Status::kAgain);
  EXPECT_EQ(lim->usage("tokens", 0).used, 40u);
}

TEST_F(ShmPolicy, SettlingUpMakesLaterGrantsWaitUntilTheWindowIsBackUnder) {
  core::LimiterPtr lim = make(policy({{"tokens", 100, kMinute}}));
  const core::PermitId p = take(*lim, {{"tokens", 10}});
  lim->settle(p, demand({{"tokens", 150}}));
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 150u);
  core::Nanos retry = 0;
  EXPECT_EQ(try_take(*lim, {{"tokens", 0}}, &retry), core::Status::kAgain)
      << "over its max, the window admits nothing";
  EXPECT_GT(retry, 0) << "only time brings it back under";
  lim->release(p, std::nullopt);
  EXPECT_EQ(try_take(*lim, {{"tokens", 1}}), core::Status::kAgain);
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 150u);
}

TEST_F(ShmPolicy, SettlingDownFreesRoomAtOnceInWindowsAndHeldLimits) {
  core::LimiterPtr lim = make(policy({{"tokens", 100, kMinute}, {"tokens", 80, 0}}));
  const core::PermitId p = take(*lim, {{"tokens", 80}});
  EXPECT_EQ(try_take(*lim, {{"tokens", 1}}), core::Status::kAgain);
  lim->settle(p, demand({{"tokens", 30}}));
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 30u);
  EXPECT_EQ(lim->usage("tokens", 0).used, 30u);
  const core::PermitId q = take(*lim, {{"tokens", 50}});
  EXPECT_EQ(try_take(*lim, {{"tokens", 1}}), core::Status::kAgain);
  lim->release(p, std::nullopt);  // gives back the settled 30, not the estimated 80
  EXPECT_EQ(lim->usage("tokens", 0).used, 50u);
  lim->release(q, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 80u);
}

TEST_F(ShmPolicy, ASettleIsOncePerUnitBeforeOrAfterRelease) {
  core::LimiterPtr lim = make(policy({{"requests", 10, kMinute},
                                      {"input_tokens", 1000, kMinute},
                                      {"output_tokens", 1000, kMinute}}));
  const core::PermitId p = take(*lim, {{"input_tokens", 100}, {"output_tokens", 500}});
  lim->settle(p, demand({{"input_tokens", 120}}));
  EXPECT_THROW(lim->settle(p, demand({{"input_tokens", 1}})), core::StatusError) << "settled twice";
  EXPECT_THROW(lim->settle(p, demand({{"tokens", 1}})), core::StatusError) << "not in the policy";
  lim->release(p, std::nullopt);
  lim->settle(p, demand({{"output_tokens", 200}}));  // after its release
  EXPECT_EQ(lim->usage("input_tokens", kMinute).used, 120u);
  EXPECT_EQ(lim->usage("output_tokens", kMinute).used, 200u);
  EXPECT_THROW(lim->settle(p, demand({{"output_tokens", 1}})), core::StatusError)
      << "settled twice";
  try {
    lim->settle(p + 1, demand({{"output_tokens", 1}}));
    ADD_FAILURE() << "a permit never granted was settled";
  } catch (const core::StatusError& e) {
    EXPECT_EQ(e.status(), core::Status::kInvalid);
  }
}

TEST_F(ShmPolicy, ChangingThePolicyKeepsTheHistoryOfLimitsThatContinue) {
  core::LimiterPtr lim = make(policy({{"requests", 5, kMinute}, {"tokens", 100, 0}}));
  const core::PermitId held = take(*lim, {{"tokens", 70}});
  for (int i = 0; i < 4; ++i) take(*lim, {});
  EXPECT_EQ(try_take(*lim, {}), core::Status::kAgain);
  // Wider window, one more request, a new tokens window; the held limit stays.
  lim->set_policy(
      policy({{"tokens", 100, 0}, {"requests", 6, 2 * kMinute}, {"tokens", 1000, kMinute}}));
  EXPECT_EQ(lim->usage("requests", 2 * kMinute).used, 5u) << "the window's history was lost";
  EXPECT_EQ(lim->usage("tokens", 0).used, 70u) << "the held limit's count was lost";
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 0u) << "a new limit starts empty";
  EXPECT_EQ(try_take(*lim, {{"tokens", 31}}), core::Status::kAgain);
  take(*lim, {{"tokens", 30}});
  EXPECT_EQ(try_take(*lim, {}), core::Status::kAgain);
  lim->release(held, std::nullopt);
  EXPECT_EQ(lim->usage("tokens", 0).used, 30u);
  EXPECT_EQ(lim->usage("requests", 2 * kMinute).used, 6u);
  EXPECT_EQ(lim->usage("tokens", kMinute).used, 30u);
}

// ---- across processes ------------------------------------------------------------------

class ShmPolicyProcesses : public ShmPolicy {
 protected:
  void SetUp() override {
    ShmPolicy::SetUp();
    obs_ = PolicyObserver::create(&obs_fd_);
    ASSERT_NE(obs_, nullptr);
  }
  void TearDown() override {
    for (pid_t pid : running_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (obs_->failures.load() != 0) ADD_FAILURE() << obs_->failures.load() << " worker failures";
    munmap(obs_, sizeof(PolicyObserver));
    close(obs_fd_);
    ShmPolicy::TearDown();
  }
  pid_t spawn(const std::string& mode, const std::vector<std::string>& args) {
    std::vector<std::string> all = {PTL_SHM_POLICY_WORKER, mode, uri(), "lim",
                                    std::to_string(obs_fd_)};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, PTL_SHM_POLICY_WORKER, nullptr, nullptr, argv.data(), environ);
    EXPECT_EQ(rc, 0);
    if (rc == 0) running_.push_back(pid);
    return pid;
  }
  int wait_exit(pid_t pid) {
    int status = 0;
    const int64_t end = mono_ns() + 2 * kMinute;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (mono_ns() > end) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::erase(running_, pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  bool wait_ready(int n) {
    return wait_until([&] { return obs_->ready.load() >= n; }, kHangGuard);
  }

  PolicyObserver* obs_ = nullptr;
  int obs_fd_ = -1;
  std::vector<pid_t> running_;
};

TEST_F(ShmPolicyProcesses, FourProcessesNeverExceedAnyLimitOfAThreeLimitPolicy) {
  // Each grant asks for 1 request and 1..60 tokens; half of them settle tokens down,
  // before or after their release. No limit may be exceeded in any window.
  constexpr int64_t kWindow = 400 * kMs;
  core::LimiterPtr lim = make(policy({{"tokens", 100, 0},  // held
                                      {"requests", 25, kWindow},
                                      {"tokens", 400, kWindow}}));
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(spawn("hammer", {"2500"}));
  for (pid_t pid : pids) EXPECT_EQ(wait_exit(pid), 0);
  EXPECT_EQ(obs_->check(100, 25, 400, kWindow), "");
  uint64_t grants = 0, tokens = 0;
  obs_->proven_in_window(kWindow, &grants, &tokens);
  EXPECT_GE(obs_->count.load(), 50u) << "the limits were hardly used";
  const core::StatsSnapshot st = lim->stats();
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.total_acquired, obs_->count.load());
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u) << "held tokens leaked";
  std::printf(
      "[ shm     ] 4 processes x 2 threads: %llu grants; most inside one window: %llu "
      "requests (max 25), %llu tokens (max 400); tokens held at most %lld (max 100)\n",
      static_cast<unsigned long long>(obs_->count.load()), static_cast<unsigned long long>(grants),
      static_cast<unsigned long long>(tokens),
      static_cast<long long>(obs_->max_tokens_held.load()));
}

TEST_F(ShmPolicyProcesses, AnObservationHoldsBackEveryProcess) {
  core::LimiterPtr lim = make(policy({{"requests", 100, kMinute}, {"tokens", 10000, kMinute}}));
  lim->observe("tokens", 5, kMinute);  // the provider says: 5 tokens left for a minute
  EXPECT_EQ(lim->usage("tokens", kMinute).observed_cap, 5u);
  EXPECT_EQ(wait_exit(spawn("try-tokens", {"6"})), 0);
  EXPECT_EQ(obs_->result.load(), static_cast<int>(core::Status::kAgain))
      << "the other process did not see the observation";
  EXPECT_EQ(wait_exit(spawn("try-tokens", {"5"})), 0);
  EXPECT_EQ(obs_->result.load(), static_cast<int>(core::Status::kOk));
  // Its grant was charged against the cap, for every process.
  EXPECT_EQ(lim->usage("tokens", kMinute).observed_cap, 0u);
  EXPECT_EQ(try_take(*lim, {{"tokens", 1}}), core::Status::kAgain);
  EXPECT_EQ(try_take(*lim, {{"tokens", 0}}), core::Status::kOk) << "requests alone still fit";
}

TEST_F(ShmPolicyProcesses, AKilledHoldersHeldAmountsComeBack) {
  core::LimiterPtr lim = make(policy({{"tokens", 100, 0}, {"requests", 2, 0}}));
  const pid_t holder = spawn("hold-tokens", {"70"});
  ASSERT_TRUE(wait_ready(1));
  EXPECT_EQ(try_take(*lim, {{"tokens", 31}}), core::Status::kAgain);
  kill(holder, SIGKILL);
  EXPECT_EQ(wait_exit(holder), 128 + SIGKILL);
  lim->stats();  // looks for dead holders
  EXPECT_EQ(lim->usage("tokens", 0).used, 0u);
  EXPECT_EQ(lim->usage("requests", 0).used, 0u);
  const core::PermitId a = take(*lim, {{"tokens", 100}});
  const core::PermitId b = take(*lim, {{"tokens", 0}});
  lim->release(a, std::nullopt);
  lim->release(b, std::nullopt);
}

}  // namespace
}  // namespace ptl_test
