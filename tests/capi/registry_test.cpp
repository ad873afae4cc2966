// The registry through the C ABI: register, replace, get, get_or_create, exists, remove,
// reset.
#include <barrier>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiRegistry, RegisterTwiceIsEexist) {
  Reg reg;
  ptl_limiter_config a = make_cfg(2, 5, 1.0);
  ptl_limiter_config b = make_cfg(7);
  ASSERT_EQ(ptl_registry_register(reg, "api", &a, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_register(reg, "api", &b, 0), PTL_EEXIST);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_TRUE(last_error_mentions("api"))
      << "message should name the limiter: " << ptl_last_error();
  // The first config stays.
  ptl_limiter_stats s = reg_stats(reg, "api");
  EXPECT_EQ(s.config.max_concurrent, 2u);
  EXPECT_EQ(s.config.max_per_window, 5u);
}

TEST(CapiRegistry, UnknownFlagsAreInvalid) {
  Reg reg;
  ptl_limiter_config a = make_cfg(2);
  EXPECT_EQ(ptl_registry_register(reg, "f", &a, 2u), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_register(reg, "f", &a, 0x80000000u), PTL_EINVAL);
  EXPECT_EQ(ptl_registry_exists(reg, "f"), 0);
}

TEST(CapiRegistry, ReplaceOfMissingRegisters) {
  Reg reg;
  ptl_limiter_config a = make_cfg(3);
  ASSERT_EQ(ptl_registry_register(reg, "new", &a, PTL_REPLACE), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_registry_exists(reg, "new"), 1);
  EXPECT_EQ(reg_stats(reg, "new").config.max_concurrent, 3u);
}

TEST(CapiRegistry, ReplaceInPlaceKeepsInFlightPermits) {
  Reg reg;
  ptl_limiter_config a = make_cfg(2);
  ASSERT_EQ(ptl_registry_register(reg, "api", &a, 0), PTL_OK);
  Lim h;
  ASSERT_EQ(ptl_registry_get(reg, "api", h.out()), PTL_OK);
  ptl_permit p1 = 0, p2 = 0, p3 = 0, p4 = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &p1), PTL_OK);
  ASSERT_EQ(ptl_acquire(h, 0, &p2), PTL_OK);

  // Raise to 3: the two permits in flight still count, so exactly one more fits.
  ptl_limiter_config b = make_cfg(3);
  ASSERT_EQ(ptl_registry_register(reg, "api", &b, PTL_REPLACE), PTL_OK) << ptl_last_error();
  ptl_limiter_stats s = stats_of(h);  // the old handle sees the new config: same limiter
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.in_flight, 2u);
  ASSERT_EQ(ptl_try_acquire(h, &p3, nullptr), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(h, &p4, &retry), PTL_EAGAIN);
  EXPECT_EQ(retry, -1);

  // A new handle is the same limiter as the old one.
  Lim h2;
  ASSERT_EQ(ptl_registry_get(reg, "api", h2.out()), PTL_OK);
  EXPECT_EQ(stats_of(h2).in_flight, 3u);

  // Lower to 1: nothing more until in flight drops below 1; old permits release fine.
  ptl_limiter_config c = make_cfg(1);
  ASSERT_EQ(ptl_registry_register(reg, "api", &c, PTL_REPLACE), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(h2, &p4, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(h, p1), PTL_OK);
  EXPECT_EQ(ptl_release(h2, p2), PTL_OK);  // any handle of the same limiter
  EXPECT_EQ(ptl_try_acquire(h2, &p4, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(h, p3), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(h2, &p4, nullptr), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(h, &p1, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(h, p4), PTL_OK);
  EXPECT_EQ(stats_of(h).in_flight, 0u);
}

TEST(CapiRegistry, ReplaceKeepsWindowHistory) {
  Reg reg;
  ptl_limiter_config a = make_cfg(10, 2, 30.0);
  ASSERT_EQ(ptl_registry_register(reg, "w", &a, 0), PTL_OK);
  Lim h;
  ASSERT_EQ(ptl_registry_get(reg, "w", h.out()), PTL_OK);
  for (int i = 0; i < 2; ++i) {
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(h, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(h, p), PTL_OK);
  }
  ptl_limiter_config b = make_cfg(10, 3, 30.0);
  ASSERT_EQ(ptl_registry_register(reg, "w", &b, PTL_REPLACE), PTL_OK);
  EXPECT_EQ(stats_of(h).current_window_count, 2u);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(h, &p, nullptr), PTL_OK) << "one more fits 3 per window";
  ASSERT_EQ(ptl_release(h, p), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(h, &p, &retry), PTL_EAGAIN) << "history was dropped by replace";
  EXPECT_GT(retry, 0);
}

TEST(CapiRegistry, GetMissingIsNotFound) {
  Reg reg;
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_get(reg, "missing", &out), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions("missing")) << ptl_last_error();
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(reg, "missing", &s), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_registry_exists(reg, "missing"), 0);
  EXPECT_EQ(ptl_registry_remove(reg, "missing"), PTL_ENOTFOUND);
}

TEST(CapiRegistry, GetOrCreateIgnoresConfigOfExisting) {
  Reg reg;
  ptl_limiter_config a = make_cfg(2);
  ptl_limiter_config b = make_cfg(9);
  Lim h1, h2;
  ASSERT_EQ(ptl_registry_get_or_create(reg, "g", &a, h1.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_get_or_create(reg, "g", &b, h2.out()), PTL_OK);
  EXPECT_EQ(stats_of(h2).config.max_concurrent, 2u);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(h1, 0, &p), PTL_OK);
  EXPECT_EQ(stats_of(h2).in_flight, 1u);
  EXPECT_EQ(ptl_release(h2, p), PTL_OK);
  EXPECT_EQ(stats_of(h1).in_flight, 0u);
}

TEST(CapiRegistry, GetOrCreateIsAtomicUnderRacingThreads) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 40;
  Reg reg;
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::vector<ptl_limiter*> handles(kThreads, nullptr);
    std::vector<int> rcs(kThreads, 1);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(100 + t));
        start.arrive_and_wait();
        rcs[t] = ptl_registry_get_or_create(reg, name.c_str(), &cfg, &handles[t]);
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
      ptl_limiter_stats s = stats_of(handles[t]);
      EXPECT_EQ(s.in_flight, 1u) << "round " << round << " thread " << t << " got another limiter";
      EXPECT_EQ(s.config.max_concurrent, conc);
    }
    EXPECT_EQ(reg_stats(reg, name.c_str()).in_flight, 1u);
    EXPECT_EQ(ptl_release(handles[(round + 1) % kThreads], p), PTL_OK);
    for (ptl_limiter* h : handles) ptl_limiter_unref(h);
  }
  EXPECT_EQ(count_listed(reg), kRounds);
}

TEST(CapiRegistry, RegisterRaceHasOneWinner) {
  Reg reg;
  for (int round = 0; round < 20; ++round) {
    const std::string name = "reg-race-" + std::to_string(round);
    constexpr int kThreads = 8;
    std::vector<int> rcs(kThreads, 1);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(1 + t));
        start.arrive_and_wait();
        rcs[t] = ptl_registry_register(reg, name.c_str(), &cfg, 0);
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
      EXPECT_EQ(reg_stats(reg, name.c_str()).config.max_concurrent,
                static_cast<uint32_t>(1 + winner));
    }
  }
}

TEST(CapiRegistry, ExistsAndRemove) {
  Reg reg;
  ptl_limiter_config a = make_cfg(1);
  EXPECT_EQ(ptl_registry_exists(reg, "r"), 0);
  ASSERT_EQ(ptl_registry_register(reg, "r", &a, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(reg, "r"), 1);

  Lim h;
  ASSERT_EQ(ptl_registry_get(reg, "r", h.out()), PTL_OK);
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &held), PTL_OK);

  EXPECT_EQ(ptl_registry_remove(reg, "r"), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(reg, "r"), 0);
  EXPECT_EQ(ptl_registry_remove(reg, "r"), PTL_ENOTFOUND);
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_get(reg, "r", &out), PTL_ENOTFOUND);

  // The old handle keeps working on the removed limiter.
  ptl_limiter_stats s = stats_of(h);
  EXPECT_EQ(s.in_flight, 1u);
  ptl_permit p = 0;
  EXPECT_EQ(ptl_try_acquire(h, &p, nullptr), PTL_EAGAIN);

  // A new limiter of the same name is a different one: the old permit is not its own.
  ASSERT_EQ(ptl_registry_register(reg, "r", &a, 0), PTL_OK);
  Lim h2;
  ASSERT_EQ(ptl_registry_get(reg, "r", h2.out()), PTL_OK);
  EXPECT_EQ(stats_of(h2).in_flight, 0u);
  EXPECT_EQ(ptl_release(h2, held), PTL_EINVAL);
  ASSERT_EQ(ptl_acquire(h2, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(h2, p), PTL_OK);

  EXPECT_EQ(ptl_release(h, held), PTL_OK);
  ASSERT_EQ(ptl_acquire(h, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(h, p), PTL_OK);
  EXPECT_EQ(stats_of(h).total_acquired, 2u);
}

TEST(CapiRegistry, RemoveWithBlockedWaiterKeepsItAlive) {
  Reg reg;
  ptl_limiter_config a = make_cfg(1);
  ASSERT_EQ(ptl_registry_register(reg, "rw", &a, 0), PTL_OK);
  Lim h;
  ASSERT_EQ(ptl_registry_get(reg, "rw", h.out()), PTL_OK);
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &held), PTL_OK);
  std::atomic<int> rc{1};
  std::thread waiter([&] {
    ptl_permit p = 0;
    rc = ptl_acquire(h, 10 * kSec, &p);
    if (rc == PTL_OK) {
      EXPECT_EQ(ptl_release(h, p), PTL_OK);
    }
  });
  ASSERT_TRUE(wait_waiting(h, 1));
  EXPECT_EQ(ptl_registry_remove(reg, "rw"), PTL_OK);
  EXPECT_EQ(ptl_release(h, held), PTL_OK);
  waiter.join();
  EXPECT_EQ(rc.load(), PTL_OK);
}

TEST(CapiRegistry, ResetRemovesAllButHandlesWork) {
  Reg reg;
  ptl_limiter_config a = make_cfg(2);
  for (const char* n : {"a", "b", "c"}) ASSERT_EQ(ptl_registry_register(reg, n, &a, 0), PTL_OK);
  Lim hb;
  ASSERT_EQ(ptl_registry_get(reg, "b", hb.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_reset(reg), PTL_OK);
  for (const char* n : {"a", "b", "c"}) EXPECT_EQ(ptl_registry_exists(reg, n), 0) << n;
  EXPECT_EQ(count_listed(reg), 0);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(hb, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(hb, p), PTL_OK);
  // Reset of an empty registry is fine; names can be registered again.
  EXPECT_EQ(ptl_registry_reset(reg), PTL_OK);
  EXPECT_EQ(ptl_registry_register(reg, "b", &a, 0), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
