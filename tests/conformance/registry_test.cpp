// SPDX-License-Identifier: MIT
// The registry on every backend: register, replace in place, get, get_or_create, and their
// races between threads of several registries.
#include <barrier>
#include <string>
#include <vector>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Registry);

TEST_P(Registry, RegisterTwiceIsEexistAndKeepsTheFirst) {
  const ptl_limiter_config a = make_cfg(2, 5, 1.0), b = make_cfg(7);
  ASSERT_EQ(ptl_registry_register(reg(), "api", &a, 0), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_registry_register(reg(), "api", &b, 0), PTL_EEXIST);
  EXPECT_TRUE(last_error_mentions("api")) << "should name the limiter: " << ptl_last_error();
  EXPECT_TRUE(last_error_mentions("exists")) << ptl_last_error();
  EXPECT_EQ(ptl_registry_register(peer(), "api", &b, 0), PTL_EEXIST);
  const ptl_limiter_stats s = reg_stats(reg(), "api");
  EXPECT_EQ(s.config.max_concurrent, 2u);
  EXPECT_EQ(s.config.max_per_window, 5u);
  EXPECT_EQ(s.config.window_seconds, 1.0);
}

TEST_P(Registry, UnknownFlagsAreInvalid) {
  const ptl_limiter_config a = make_cfg(2);
  EXPECT_EQ(ptl_registry_register(reg(), "f", &a, 2u), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_register(reg(), "f", &a, 0x80000000u), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_exists(reg(), "f"), 0);
}

TEST_P(Registry, ReplaceOfMissingRegisters) {
  const ptl_limiter_config a = make_cfg(3);
  ASSERT_EQ(ptl_registry_register(reg(), "new", &a, PTL_REPLACE), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_registry_exists(reg(), "new"), 1);
  EXPECT_EQ(reg_stats(reg(), "new").config.max_concurrent, 3u);
}

TEST_P(Registry, ReplaceInPlaceKeepsInFlightPermits) {
  Lim h = make(make_cfg(2), "api");
  ptl_permit p1 = 0, p2 = 0, p3 = 0, p4 = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &p1), PTL_OK);
  ASSERT_EQ(ptl_acquire(h, 0, &p2), PTL_OK);

  // Raise to 3: the two permits in flight still count, so exactly one more fits.
  const ptl_limiter_config b = make_cfg(3);
  ASSERT_EQ(ptl_registry_register(reg(), "api", &b, PTL_REPLACE), PTL_OK) << ptl_last_error();
  const ptl_limiter_stats s = stats_of(h);  // the old handle sees the new config: same limiter
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.in_flight, 2u);
  ASSERT_EQ(ptl_try_acquire(h, &p3, nullptr), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(h, &p4, &retry), PTL_EAGAIN);
  EXPECT_EQ(retry, -1);

  // A new handle, of another registry where the backend shares, is the same limiter.
  Lim h2 = get(peer(), "api");
  EXPECT_EQ(stats_of(h2).in_flight, 3u);

  // Lower to 1 (through the other registry): nothing more until in flight drops below 1;
  // old permits release fine.
  const ptl_limiter_config c = make_cfg(1);
  ASSERT_EQ(ptl_registry_register(peer(), "api", &c, PTL_REPLACE), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(h2, &p4, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(h, p1), PTL_OK);
  EXPECT_EQ(ptl_release(backend().release_anywhere ? h2 : h, p2), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(h2, &p4, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(h, p3), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(h2, &p4, nullptr), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(h, &p1, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(backend().release_anywhere ? h : h2, p4), PTL_OK);
  EXPECT_EQ(stats_of(h).in_flight, 0u);
}

TEST_P(Registry, ReplaceKeepsWindowHistory) {
  Lim h = make(make_cfg(10, 2, 60.0), "w");
  for (int i = 0; i < 2; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(h, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(h, p), PTL_OK);
  }
  const ptl_limiter_config b = make_cfg(10, 3, 30.0);  // and a shorter window
  ASSERT_EQ(ptl_registry_register(reg(), "w", &b, PTL_REPLACE), PTL_OK);
  const ptl_limiter_stats s = stats_of(h);
  EXPECT_EQ(s.config.window_seconds, 30.0);
  EXPECT_EQ(s.current_window_count, 2u) << "the window's history did not survive PTL_REPLACE";
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(h, &p, nullptr), PTL_OK) << "one more fits 3 per window";
  ASSERT_EQ(ptl_release(h, p), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(h, &p, &retry), PTL_EAGAIN) << "history was dropped by replace";
  EXPECT_GT(retry, 0);
}

TEST_P(Registry, GetMissingIsNotFound) {
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_get(reg(), "missing", &out), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions("missing")) << ptl_last_error();
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(reg(), "missing", &s), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_registry_exists(reg(), "missing"), 0);
  EXPECT_EQ(ptl_registry_remove(reg(), "missing"), PTL_ENOTFOUND);
}

TEST_P(Registry, GetOrCreateIgnoresConfigOfExisting) {
  const ptl_limiter_config a = make_cfg(2), b = make_cfg(9);
  Lim h1, h2, again;
  ASSERT_EQ(ptl_registry_get_or_create(reg(), "g", &a, h1.out()), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_registry_get_or_create(peer(), "g", &b, h2.out()), PTL_OK) << ptl_last_error();
  EXPECT_EQ(stats_of(h2).config.max_concurrent, 2u);
  ASSERT_EQ(ptl_registry_get_or_create(reg(), "g", &b, again.out()), PTL_OK);
  EXPECT_EQ(stats_of(again).config.max_concurrent, 2u);
  if (backend().one_object_per_name) {
    EXPECT_EQ(again.get(), h1.get()) << "one object per name and registry";
  }
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(h1, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(h2).in_flight, 1u);
  EXPECT_EQ(ptl_release(backend().release_anywhere ? h2 : h1, p), PTL_OK);
  EXPECT_EQ(stats_of(h1).in_flight, 0u);
}

TEST_P(Registry, GetOrCreateIsAtomicUnderRacingThreads) {
  constexpr int kThreads = 8, kRounds = 30;
  std::vector<ptl_registry*> regs;
  for (int t = 0; t < kThreads; ++t) regs.push_back(peer());  // each thread its own
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::vector<ptl_limiter*> handles(kThreads, nullptr);
    std::vector<int> rcs(kThreads, 1);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(100 + t));
        start.arrive_and_wait();
        rcs[t] = ptl_registry_get_or_create(regs[t], name.c_str(), &cfg, &handles[t]);
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) ASSERT_EQ(rcs[t], PTL_OK) << "thread " << t;
    // All share one limiter: one config (one of the racers'), and a permit taken through
    // one handle is seen in flight through every other.
    const uint32_t conc = stats_of(handles[0]).config.max_concurrent;
    EXPECT_GE(conc, 100u);
    EXPECT_LT(conc, 100u + kThreads);
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(handles[round % kThreads], 0, &p), PTL_OK);
    for (int t = 0; t < kThreads; ++t) {
      const ptl_limiter_stats s = stats_of(handles[t]);
      EXPECT_EQ(s.in_flight, 1u) << "round " << round << " thread " << t << " got another limiter";
      EXPECT_EQ(s.config.max_concurrent, conc);
    }
    EXPECT_EQ(reg_stats(reg(), name.c_str()).in_flight, 1u);
    const int releaser = backend().release_anywhere ? (round + 1) % kThreads : round % kThreads;
    EXPECT_EQ(ptl_release(handles[releaser], p), PTL_OK);
    for (ptl_limiter* h : handles) ptl_limiter_unref(h);
  }
  EXPECT_EQ(count_listed(reg()), kRounds);
}

TEST_P(Registry, RegisterRaceHasOneWinner) {
  constexpr int kThreads = 8;
  std::vector<ptl_registry*> regs;
  for (int t = 0; t < kThreads; ++t) regs.push_back(peer());
  for (int round = 0; round < 20; ++round) {
    const std::string name = "reg-race-" + std::to_string(round);
    std::vector<int> rcs(kThreads, 1);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        const ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(1 + t));
        start.arrive_and_wait();
        rcs[t] = ptl_registry_register(regs[t], name.c_str(), &cfg, 0);
      });
    for (auto& th : threads) th.join();
    int ok = 0, exist = 0, winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      if (rcs[t] == PTL_OK) ++ok, winner = t;
      if (rcs[t] == PTL_EEXIST) ++exist;
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(exist, kThreads - 1);
    if (winner >= 0) {
      EXPECT_EQ(reg_stats(reg(), name.c_str()).config.max_concurrent,
                static_cast<uint32_t>(1 + winner));
    }
  }
}

}  // namespace
}  // namespace ptl_test
