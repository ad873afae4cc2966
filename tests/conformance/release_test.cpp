// SPDX-License-Identifier: MIT
// ptl_release on every backend: double, forged, foreign and stale permits are PTL_EINVAL
// and change nothing; permits are unique across limiters, registries and threads.
#include <mutex>
#include <vector>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Release);

bool all_distinct(std::vector<ptl_permit> v) {
  std::sort(v.begin(), v.end());
  return std::unique(v.begin(), v.end()) == v.end();
}

TEST_P(Release, DoubleReleaseIsEinvalAndChangesNothing) {
  Lim lim = make(make_cfg(3, 10, 10.0, 100));
  ptl_permit p = 0, other = 0;
  ASSERT_EQ(ptl_acquire_cost(lim, 4, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_acquire(lim, 0, &other), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  const ptl_limiter_stats before = stats_of(lim);
  EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions("permit")) << ptl_last_error();
  EXPECT_TRUE(last_error_mentions("not held")) << ptl_last_error();
  EXPECT_EQ(ptl_release_cost(lim, p, 1), PTL_EINVAL);
  const ptl_limiter_stats after = stats_of(lim);
  expect_same_counts(before, after);
  EXPECT_EQ(after.in_flight, 1u);
  EXPECT_EQ(after.current_window_cost, 5u);
  EXPECT_EQ(ptl_release(lim, other), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(Release, ZeroAndForgedPermitsAreEinval) {
  Lim lim = make(make_cfg(2));
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  const ptl_limiter_stats before = stats_of(lim);
  for (ptl_permit bad :
       {ptl_permit{0}, p + 1, p - 1, p ^ (ptl_permit{1} << 40), p ^ (ptl_permit{1} << 24),
        p ^ (ptl_permit{1} << 63), ~ptl_permit{0}, ptl_permit{1}}) {
    if (bad == p) continue;
    EXPECT_EQ(ptl_release(lim, bad), PTL_EINVAL) << std::hex << bad;
    EXPECT_EQ(ptl_release_cost(lim, bad, 1), PTL_EINVAL) << std::hex << bad;
  }
  expect_same_counts(before, stats_of(lim));
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(Release, PermitsOfOtherLimitersAreEinval) {
  // Another limiter of the registry, a limiter of another registry of the backend, and a
  // private local limiter: none takes another's permit, in either direction.
  Lim a = make(make_cfg(2));
  Lim b = make(make_cfg(2));
  ptl_registry* elsewhere = other();
  const ptl_limiter_config cfg = make_cfg(2);
  ASSERT_EQ(ptl_registry_register(elsewhere, "c", &cfg, 0), PTL_OK) << ptl_last_error();
  Lim c = get(elsewhere, "c");
  Lim priv = create_limiter(make_cfg(2));
  ptl_limiter* lims[] = {a, b, c, priv};
  ptl_permit ps[4] = {};
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ptl_acquire(lims[i], 0, &ps[i]), PTL_OK) << i;
  EXPECT_TRUE(all_distinct({ps[0], ps[1], ps[2], ps[3]})) << "permit values must be unique";
  EXPECT_TRUE(backends().front().own_permit(ps[3])) << "a private limiter's permit, local form";
  std::vector<ptl_limiter_stats> before;
  for (ptl_limiter* l : lims) before.push_back(stats_of(l));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      if (i == j) continue;
      EXPECT_EQ(ptl_release(lims[j], ps[i]), PTL_EINVAL) << "permit of " << i << " on " << j;
      EXPECT_EQ(ptl_release_cost(lims[j], ps[i], 1), PTL_EINVAL) << i << " on " << j;
    }
  for (int i = 0; i < 4; ++i) expect_same_counts(before[i], stats_of(lims[i]));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ptl_release(lims[i], ps[i]), PTL_OK) << i;
}

TEST_P(Release, PermitsUniqueAcrossManyLimitersRegistriesAndThreads) {
  constexpr int kLimiters = 8, kPer = 200;
  ptl_registry* regs[] = {reg(), other()};
  const ptl_limiter_config cfg = make_cfg(kPer);
  std::vector<Lim> lims;
  for (int i = 0; i < kLimiters; ++i) {
    const std::string name = "u" + std::to_string(i);
    ASSERT_EQ(ptl_registry_register(regs[i % 2], name.c_str(), &cfg, 0), PTL_OK);
    lims.push_back(get(regs[i % 2], name));
  }
  std::vector<std::vector<ptl_permit>> got(kLimiters);
  std::vector<std::thread> ts;
  for (int i = 0; i < kLimiters; ++i)
    ts.emplace_back([&, i] {
      for (int k = 0; k < kPer; ++k) {
        ptl_permit p = 0;
        ASSERT_EQ(ptl_acquire(lims[i], 0, &p), PTL_OK) << ptl_last_error();
        got[i].push_back(p);
      }
    });
  for (auto& t : ts) t.join();
  std::vector<ptl_permit> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kLimiters * kPer));
  EXPECT_TRUE(all_distinct(all)) << "duplicate permits";
  // Every cross-limiter release fails, every own release succeeds once.
  for (int i = 0; i < kLimiters; ++i)
    EXPECT_EQ(ptl_release(lims[(i + 1) % kLimiters], got[i][0]), PTL_EINVAL);
  for (int i = 0; i < kLimiters; ++i)
    for (ptl_permit p : got[i]) EXPECT_EQ(ptl_release(lims[i], p), PTL_OK);
  for (int i = 0; i < kLimiters; ++i) EXPECT_EQ(stats_of(lims[i]).in_flight, 0u);
}

TEST_P(Release, StalePermitNeverReleasesItsSuccessor) {
  // If a released permit's value came back at once, a late second release of it would
  // free someone else's permit. On both paths (with and without a window).
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = make(make_cfg(1, per_window, 1.0));
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
    EXPECT_EQ(stats_of(lim).in_flight, 0u);
  }
}

TEST_P(Release, PermitsOutliveTheThreadThatTookThem) {
  // Permits taken by short-lived threads are released by another thread after those
  // threads exit; each exactly once.
  for (uint64_t per_window : {uint64_t{0}, uint64_t{1000000}}) {
    Lim lim = make(make_cfg(200, per_window, 1.0));
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
    EXPECT_TRUE(all_distinct(permits)) << "duplicate permits";
    EXPECT_EQ(stats_of(lim).in_flight, 150u);
    std::thread releaser([&] {
      for (ptl_permit p : permits) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
      for (ptl_permit p : permits) EXPECT_EQ(ptl_release(lim, p), PTL_EINVAL);
    });
    releaser.join();
    const ptl_limiter_stats s = stats_of(lim);
    EXPECT_EQ(s.in_flight, 0u);
    EXPECT_EQ(s.total_acquired, 150u);
  }
}

}  // namespace
}  // namespace ptl_test
