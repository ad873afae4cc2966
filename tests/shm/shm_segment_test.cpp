// SPDX-License-Identifier: MIT
// What an shm:// segment costs: removed limiters give their memory back, and a window's
// log grows with the grants made, not with the limit. (The registry and limiter behaviour
// that every backend shares is in tests/conformance.)
#include <sys/stat.h>

#include <string>

#include "shm_util.hpp"

namespace ptl_test {
namespace {

TEST(ShmSegment, RegisterAndRemoveReuseTheSegment) {
  // Removed limiters give their memory back: churn does not grow the segment.
  ShmReg reg;
  ptl_limiter_config cfg = make_cfg(8, 500, 1.0);
  struct stat before {
  }, after{};
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 300; ++i) {
      const std::string n = "churn-" + std::to_string(i);
      ASSERT_EQ(ptl_registry_register(reg, n.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
      Lim h;
      ASSERT_EQ(ptl_registry_get(reg, n.c_str(), h.out()), PTL_OK);
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(h, 0, &p), PTL_OK);  // slots and a window log allocated
      ASSERT_EQ(ptl_release(h, p), PTL_OK);
    }
    EXPECT_EQ(count_listed(reg), 300);
    ASSERT_EQ(ptl_registry_reset(reg), PTL_OK);
    ASSERT_EQ(stat(shm_file(reg.segment()).c_str(), round == 0 ? &before : &after), 0);
  }
  EXPECT_EQ(after.st_size, before.st_size) << "removed limiters' memory was not reused";
}

TEST(ShmSegment, AHugeWindowLimitCostsOnlyWhatIsUsed) {
  // As on the local backend, any max_per_window is accepted; the window log grows with
  // the grants actually made, not with the limit.
  ShmReg reg;
  ptl_limiter_config huge = make_cfg(4, uint64_t{1} << 40, 60.0, uint64_t{1} << 50);
  Lim lim = reg.make(huge);
  for (int i = 0; i < 1000; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire_cost(lim, 7, 0, &p), PTL_OK) << i;
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.current_window_count, 1000u);
  EXPECT_EQ(s.current_window_cost, 7000u);
  struct stat st {};
  ASSERT_EQ(stat(shm_file(reg.segment()).c_str(), &st), 0);
  EXPECT_LE(st.st_size, 1 << 20) << "the segment grew beyond its first MiB";
}

}  // namespace
}  // namespace ptl_test
