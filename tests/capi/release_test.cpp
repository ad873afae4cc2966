// ptl_release through the C ABI: double, forged, foreign and stale permits.
#include <mutex>
#include <vector>

#include "capi_util.hpp"
#include "limiter_util.hpp"

namespace ptl_test {
namespace {

// ---- release ---------------------------------------------------------------------------

TEST(CapiRelease, DoubleReleaseIsEinvalAndChangesNothing) {
  Lim lim = create_limiter(make_cfg(3, 10, 10.0, 100));
  ptl_permit p = 0, other = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 4, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &other), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ptl_limiter_stats before = stats_of(lim);
  EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("permit")) << ptl_last_error();
  EXPECT_EQ(ptl_release_cost(lim, p, 1), PTL_EINVAL);
  ptl_limiter_stats after = stats_of(lim);
  expect_same_counts(before, after);
  EXPECT_EQ(after.in_flight, 1u);
  EXPECT_EQ(after.current_window_cost, 5u);
  EXPECT_EQ(ptl_release(lim, other), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiRelease, ZeroAndForgedPermitsAreEinval) {
  Lim lim = create_limiter(make_cfg(2));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ptl_limiter_stats before = stats_of(lim);
  for (ptl_permit bad : {ptl_permit{0}, p + 1, p - 1, p ^ (ptl_permit{1} << 40),
                         p ^ (ptl_permit{1} << 24), ~ptl_permit{0}, ptl_permit{1}}) {
    if (bad == p) continue;
    EXPECT_EQ(ptl_release(lim, bad), PTL_EINVAL) << bad;
    EXPECT_EQ(ptl_release_cost(lim, bad, 1), PTL_EINVAL) << bad;
  }
  expect_same_counts(before, stats_of(lim));
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST(CapiRelease, PermitOfAnotherLimiterIsEinval) {
  Lim a = create_limiter(make_cfg(2));
  Lim b = create_limiter(make_cfg(2));
  ptl_permit pa = 0, pb = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &pa), PTL_OK);
  ASSERT_EQ(ptl_acquire(b, 0, &pb), PTL_OK);
  EXPECT_NE(pa, pb) << "permit values must be unique across limiters";
  ptl_limiter_stats sa = stats_of(a), sb = stats_of(b);
  EXPECT_EQ(ptl_release(b, pa), PTL_EINVAL);
  EXPECT_EQ(ptl_release(a, pb), PTL_EINVAL);
  EXPECT_EQ(ptl_release_cost(b, pa, 1), PTL_EINVAL);
  expect_same_counts(sa, stats_of(a));
  expect_same_counts(sb, stats_of(b));
  EXPECT_EQ(ptl_release(a, pa), PTL_OK);
  EXPECT_EQ(ptl_release(b, pb), PTL_OK);
}

TEST(CapiRelease, PermitsUniqueAcrossManyLimitersAndThreads) {
  constexpr int kLimiters = 8, kPer = 200;
  std::vector<Lim> lims;
  for (int i = 0; i < kLimiters; ++i) lims.push_back(create_limiter(make_cfg(kPer)));
  std::vector<std::vector<ptl_permit>> got(kLimiters);
  std::vector<std::thread> ts;
  for (int i = 0; i < kLimiters; ++i)
    ts.emplace_back([&, i] {
      for (int k = 0; k < kPer; ++k) {
        ptl_permit p = 0;
        ASSERT_EQ(ptl_acquire(lims[i], 0, &p), PTL_OK);
        got[i].push_back(p);
      }
    });
  for (auto& t : ts) t.join();
  std::vector<ptl_permit> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  std::vector<ptl_permit> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "duplicate permits";
  // Every cross-limiter release fails, every own release succeeds once.
  for (int i = 0; i < kLimiters; ++i)
    EXPECT_EQ(ptl_release(lims[(i + 1) % kLimiters], got[i][0]), PTL_EINVAL);
  for (int i = 0; i < kLimiters; ++i)
    for (ptl_permit p : got[i]) EXPECT_EQ(ptl_release(lims[i], p), PTL_OK);
  for (int i = 0; i < kLimiters; ++i) EXPECT_EQ(stats_of(lims[i]).in_flight, 0u);
}

TEST(CapiRelease, StalePermitNeverReleasesItsSuccessor) {
  // If a released permit's value came back at once, a late second release of it would
  // free someone else's permit. On both paths (with and without a window).
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = create_limiter(make_cfg(1, per_window, 1.0));
    for (int i = 0; i < 2000; ++i) {
      ptl_permit p = 0, q = 0;
      ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
      ASSERT_EQ(ptl_release(lim, p), PTL_OK);
      ASSERT_EQ(ptl_acquire(lim, 0, &q), PTL_OK);
      ASSERT_NE(p, q) << "iteration " << i;
      ASSERT_EQ(ptl_release(lim, p), PTL_EINVAL) << "iteration " << i;
      ASSERT_EQ(stats_of(lim).in_flight, 1u) << "a stale release freed the new permit";
      ASSERT_EQ(ptl_release(lim, q), PTL_OK);
    }
  }
}

TEST(CapiRelease, PermitsOutliveTheThreadThatTookThem) {
  // Permits taken by short-lived threads are released by another thread after those
  // threads exit; each exactly once.
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = create_limiter(make_cfg(200, per_window, 1.0));
    std::vector<ptl_permit> permits;
    std::mutex mu;
    for (int round = 0; round < 5; ++round) {
      std::vector<std::thread> ts;
      for (int t = 0; t < 10; ++t)
        ts.emplace_back([&] {
          for (int k = 0; k < 3; ++k) {
            ptl_permit p = 0;
            ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
            std::lock_guard<std::mutex> lock(mu);
            permits.push_back(p);
          }
        });
      for (auto& t : ts) t.join();
    }
    ASSERT_EQ(permits.size(), 150u);
    std::vector<ptl_permit> sorted = permits;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "duplicate permits";
    EXPECT_EQ(stats_of(lim).in_flight, 150u);
    std::thread releaser([&] {
      for (ptl_permit p : permits) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
      for (ptl_permit p : permits) EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
    });
    releaser.join();
    ptl_limiter_stats s = stats_of(lim);
    EXPECT_EQ(s.in_flight, 0u);
    EXPECT_EQ(s.total_acquired, 150u);
  }
}

}  // namespace
}  // namespace ptl_test
