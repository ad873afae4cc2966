// SPDX-License-Identifier: MIT
// Chaos: 8 worker processes of 2 threads share one limiter (4 permits at once) while the
// test kills one of them at random every 0.5-1 s (SIGKILL, while it holds permits or
// waits in line) and starts a fresh one in its place, on shm:// and on redis://. An
// observer on the host's common clock (CLOCK_MONOTONIC) checks that live processes never
// held more than the limit at once; the grants per second with kills are compared with
// the same run just before, without kills. A backend that strands a dead process's
// permits or places in line for long loses most of its throughput here, and one that
// reclaims too eagerly goes over the limit.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>

#include "chaos_run.hpp"
#ifdef PTL_WITH_REDIS_TESTS
#include "redis_util.hpp"
#endif

namespace ptl_test {
namespace {

constexpr uint32_t kMaxConcurrent = 4;
constexpr int kProcesses = 8;
constexpr int64_t kPhase = 5 * kSec;

class Chaos : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string backend = GetParam();
    if (backend == "shm") {
      segment_ = "ptl-chaos-" + std::to_string(getpid());
      uri_ = "shm://" + segment_;
    } else {
#ifdef PTL_WITH_REDIS_TESTS
      uri_ = redis().uri();
#else
      GTEST_SKIP() << "built without redis://";
#endif
    }
  }
  void TearDown() override {
    if (!segment_.empty()) shm_unlink(("/ptl." + segment_).c_str());
  }

  std::string uri_, segment_;
};

TEST_P(Chaos, KilledHoldersAndWaitersNeitherStrandCapacityNorBreakTheLimit) {
  ptl_registry* reg = nullptr;
  ASSERT_EQ(ptl_registry_open(uri_.c_str(), &reg), PTL_OK) << ptl_last_error();
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = kMaxConcurrent;
  ASSERT_EQ(ptl_registry_register(reg, "chaos", &cfg, PTL_REPLACE), PTL_OK) << ptl_last_error();

  ChaosRun run(uri_, "chaos", /*threads=*/2, /*hold_us=*/10'000);
  for (int i = 0; i < kProcesses; ++i) run.start_worker();
  run.pump(mono_ns() + 500 * kMs);  // all started and in line

  const int64_t calm_from = mono_ns();
  run.pump(calm_from + kPhase);
  const int64_t chaos_from = mono_ns();
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int64_t> gap(500 * kMs, 1000 * kMs);
  int kills = 0;
  while (mono_ns() < chaos_from + kPhase) {
    run.pump(std::min(mono_ns() + gap(rng), chaos_from + kPhase));
    if (mono_ns() >= chaos_from + kPhase) break;
    run.kill_one(rng);
    ++kills;
    run.start_worker();
  }
  const int64_t chaos_to = mono_ns();
  run.stop_all();
  ASSERT_TRUE(run.errors().empty()) << run.errors();

  const auto rate = [&](int64_t from, int64_t to) {
    return static_cast<double>(run.grants_between(from, to)) * 1e9 / static_cast<double>(to - from);
  };
  const double calm_rate = rate(calm_from, chaos_from);
  const double chaos_rate = rate(chaos_from, chaos_to);
  std::printf("[chaos %s] %d kills; grants/s without kills %.0f, with kills %.0f (%.2fx)\n",
              GetParam(), kills, calm_rate, chaos_rate, chaos_rate / calm_rate);
  RecordProperty("grants_per_s_calm", static_cast<int>(calm_rate));
  RecordProperty("grants_per_s_chaos", static_cast<int>(chaos_rate));
  EXPECT_GE(kills, 4);
  EXPECT_GT(calm_rate, 0);
  // Live processes never held more than the limit at once (a dead one's permits end when
  // it is killed: nobody uses them after that).
  EXPECT_LE(run.max_overlap(), static_cast<int>(kMaxConcurrent));
  // About half the kills hit a holder, most hit a waiter. Stranding either for a whole
  // 30 s lease, as leases per permit did, falls below a tenth; reclaiming a session within
  // its 3 s keeps well above this.
  EXPECT_GE(chaos_rate, 0.3 * calm_rate) << "dead processes stranded capacity";

  // Every process is gone: everything comes back (within the 3 s session lease on redis).
  ptl_limiter_stats st{};
  st.struct_size = sizeof st;
  const int64_t deadline = mono_ns() + 5 * kSec;
  do {
    ASSERT_EQ(ptl_registry_stats(reg, "chaos", &st), PTL_OK) << ptl_last_error();
    if (st.in_flight == 0 && st.waiting == 0) break;
    sleep_ns(50 * kMs);
  } while (mono_ns() < deadline);
  EXPECT_EQ(st.in_flight, 0u) << "permits of dead processes were never reclaimed";
  EXPECT_EQ(st.waiting, 0u) << "places in line of dead processes were never reclaimed";
  ptl_registry_close(reg);
}

INSTANTIATE_TEST_SUITE_P(Backends, Chaos, ::testing::Values("shm", "redis"),
                         [](const auto& p) { return std::string(p.param); });

}  // namespace
}  // namespace ptl_test
