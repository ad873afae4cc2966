// SPDX-License-Identifier: MIT
// Four processes of two threads each hammer one redis:// limiter; every grant is logged
// on the Redis server's clock and the global invariants are checked from outside.
#include <string>
#include <vector>

#include "mp_util.hpp"
#include "stamp_slack.hpp"

namespace ptl_test {
namespace {

TEST(RedisMultiProcess, FourProcessesKeepConcurrencyAndTheStrictWindow) {
  constexpr int kProcesses = 4, kThreads = 2, kGrants = 15;
  constexpr uint32_t kMaxConcurrent = 3;
  constexpr uint64_t kPerWindow = 20;
  constexpr int64_t kWindowUs = 1'000'000;
  constexpr int64_t kSlackUs = kStampSlackUs;  // how late a logged stamp may be
  RedisReg reg;
  const ptl_limiter_config cfg = make_cfg(kMaxConcurrent, kPerWindow, 1.0);
  ASSERT_EQ(ptl_registry_register(reg, "hammer", &cfg, 0), PTL_OK) << ptl_last_error();

  std::vector<pid_t> pids;
  std::vector<std::string> files;
  for (int i = 0; i < kProcesses; ++i) {
    files.push_back(redis().dir() + "/grants-" + std::to_string(i));
    pids.push_back(spawn_worker({"hammer", redis().uri(), "hammer", std::to_string(kThreads),
                                 std::to_string(kGrants), "3000", files.back()}));
  }
  std::vector<Grant> all;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(wait_worker(pids[i]), 0) << "worker " << i;
    int errors = 0;
    std::vector<Grant> g = read_grants(files[i], &errors);
    EXPECT_EQ(errors, 0);
    all.insert(all.end(), g.begin(), g.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kProcesses * kThreads * kGrants));
  EXPECT_LE(max_overlap(all), static_cast<int>(kMaxConcurrent));
  EXPECT_LE(max_in_span(all, kWindowUs - kSlackUs), kPerWindow);
  // The run was limited by the window: 120 grants at 20 per second take ~5 s at least.
  int64_t first = all.front().granted, last = first;
  for (const Grant& g : all) {
    first = std::min(first, g.granted);
    last = std::max(last, g.granted);
  }
  EXPECT_GE(last - first, 5 * kWindowUs - kSlackUs);
  const ptl_limiter_stats s = reg_stats(reg, "hammer");
  EXPECT_EQ(s.total_acquired, all.size());
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

TEST(RedisMultiProcess, ConcurrencyOnlyUnderContention) {
  constexpr int kProcesses = 4, kThreads = 2, kGrants = 40;
  RedisReg reg;
  const ptl_limiter_config cfg = make_cfg(2);
  ASSERT_EQ(ptl_registry_register(reg, "contended", &cfg, 0), PTL_OK) << ptl_last_error();
  std::vector<pid_t> pids;
  std::vector<std::string> files;
  for (int i = 0; i < kProcesses; ++i) {
    files.push_back(redis().dir() + "/contended-" + std::to_string(i));
    pids.push_back(spawn_worker({"hammer", redis().uri(), "contended", std::to_string(kThreads),
                                 std::to_string(kGrants), "1000", files.back()}));
  }
  std::vector<Grant> all;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(wait_worker(pids[i]), 0) << "worker " << i;
    int errors = 0;
    std::vector<Grant> g = read_grants(files[i], &errors);
    all.insert(all.end(), g.begin(), g.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kProcesses * kThreads * kGrants));
  const int overlap = max_overlap(all);
  EXPECT_LE(overlap, 2);
  EXPECT_GE(overlap, 2) << "the run never had two permits out at once: no contention tested";
  EXPECT_EQ(reg_stats(reg, "contended").in_flight, 0u);
}

}  // namespace
}  // namespace ptl_test
