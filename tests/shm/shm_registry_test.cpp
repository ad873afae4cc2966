// The shm:// registry through the C ABI: register, replace, get, get_or_create, exists,
// list, stats, remove, reset, and what handles of a removed limiter see.
#include <barrier>
#include <cstring>
#include <string>
#include <vector>

#include "shm_util.hpp"

namespace ptl_test {
namespace {

TEST(ShmRegistry, RegisterTwiceIsEexistAndKeepsTheFirst) {
  ShmReg reg;
  ptl_limiter_config a = make_cfg(2, 5, 1.0), b = make_cfg(7);
  ASSERT_EQ(ptl_registry_register(reg, "api", &a, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_register(reg, "api", &b, 0), PTL_EEXIST);
  EXPECT_TRUE(last_error_mentions("api")) << ptl_last_error();
  ptl_limiter_stats s = reg_stats(reg, "api");
  EXPECT_EQ(s.config.max_concurrent, 2u);
  EXPECT_EQ(s.config.max_per_window, 5u);
  EXPECT_EQ(s.config.window_seconds, 1.0);
}

TEST(ShmRegistry, ReplaceKeepsInFlightAndWindowHistory) {
  ShmReg reg;
  ptl_limiter_config a = make_cfg(2, 10, 30.0);
  Lim h = reg.make(a, "api");
  ptl_permit p1 = 0, p2 = 0, p3 = 0, p4 = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &p1), PTL_OK);
  ASSERT_EQ(ptl_acquire(h, 0, &p2), PTL_OK);
  ptl_limiter_config b = make_cfg(3, 3, 30.0);
  ASSERT_EQ(ptl_registry_register(reg, "api", &b, PTL_REPLACE), PTL_OK) << ptl_last_error();
  ptl_limiter_stats s = stats_of(h);  // the old handle sees the new config: same limiter
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.in_flight, 2u);
  EXPECT_EQ(s.current_window_count, 2u);
  ASSERT_EQ(ptl_try_acquire(h, &p3, nullptr), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(h, &p4, &retry), PTL_EAGAIN) << "3 in flight and 3 per window";
  ptl_limiter_config c = make_cfg(1, 10, 30.0);
  ASSERT_EQ(ptl_registry_register(reg, "api", &c, PTL_REPLACE), PTL_OK);
  for (ptl_permit p : {p1, p2, p3}) EXPECT_EQ(ptl_release(h, p), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(h, &p4, nullptr), PTL_OK);
  EXPECT_EQ(ptl_try_acquire(h, &p1, nullptr), PTL_EAGAIN);
  EXPECT_EQ(ptl_release(h, p4), PTL_OK);
}

TEST(ShmRegistry, GetMissingIsNotFound) {
  ShmReg reg;
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_get(reg, "missing", &out), PTL_ENOTFOUND);
  EXPECT_TRUE(last_error_mentions("missing")) << ptl_last_error();
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(reg, "missing", &s), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_registry_exists(reg, "missing"), 0);
  EXPECT_EQ(ptl_registry_remove(reg, "missing"), PTL_ENOTFOUND);
}

TEST(ShmRegistry, GetOrCreateIsAtomicUnderRacingThreads) {
  ShmReg reg;
  constexpr int kThreads = 8;
  for (int round = 0; round < 20; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::vector<ptl_limiter*> handles(kThreads, nullptr);
    std::vector<int> rcs(kThreads, 1);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ShmOpen mine(reg.uri());  // each thread through a registry of its own
        ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(100 + t));
        start.arrive_and_wait();
        rcs[t] = ptl_registry_get_or_create(mine, name.c_str(), &cfg, &handles[t]);
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) ASSERT_EQ(rcs[t], PTL_OK) << "thread " << t;
    const uint32_t conc = stats_of(handles[0]).config.max_concurrent;
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(handles[round % kThreads], 0, &p), PTL_OK);
    for (int t = 0; t < kThreads; ++t) {
      ptl_limiter_stats s = stats_of(handles[t]);
      EXPECT_EQ(s.in_flight, 1u) << "thread " << t << " got another limiter";
      EXPECT_EQ(s.config.max_concurrent, conc);
    }
    EXPECT_EQ(ptl_release(handles[(round + 1) % kThreads], p), PTL_OK);
    for (ptl_limiter* h : handles) ptl_limiter_unref(h);
  }
  EXPECT_EQ(count_listed(reg), 20);
}

TEST(ShmRegistry, ListIsSortedWithConfigs) {
  ShmReg reg;
  for (const char* n : {"zeta", "alpha", "mid", "\xC3\xA9t\xC3\xA9"}) {
    ptl_limiter_config cfg = make_cfg(static_cast<uint32_t>(std::strlen(n)), 3, 2.5, 9);
    ASSERT_EQ(ptl_registry_register(reg, n, &cfg, 0), PTL_OK);
  }
  std::vector<std::string> names;
  ASSERT_EQ(ptl_registry_list(
                reg,
                [](void* u, const char* name, const ptl_limiter_config* cfg) {
                  auto* v = static_cast<std::vector<std::string>*>(u);
                  EXPECT_EQ(cfg->max_concurrent, std::strlen(name));
                  EXPECT_EQ(cfg->max_per_window, 3u);
                  EXPECT_EQ(cfg->window_seconds, 2.5);
                  EXPECT_EQ(cfg->max_cost_per_window, 9u);
                  v->push_back(name);
                  return 0;
                },
                &names),
            PTL_OK);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "mid", "zeta", "\xC3\xA9t\xC3\xA9"}));
}

TEST(ShmRegistry, RemovedLimiterIsEclosedForItsHandles) {
  ShmReg reg;
  ptl_limiter_config a = make_cfg(1);
  Lim h = reg.make(a, "r");
  ptl_permit held = 0, p = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &held), PTL_OK);
  EXPECT_EQ(ptl_registry_remove(reg, "r"), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(reg, "r"), 0);
  EXPECT_EQ(ptl_registry_remove(reg, "r"), PTL_ENOTFOUND);
  // Every operation of the old handle says so, and names the limiter.
  EXPECT_EQ(ptl_acquire(h, 0, &p), PTL_ECLOSED);
  EXPECT_TRUE(last_error_mentions("'r' was removed")) << ptl_last_error();
  EXPECT_EQ(ptl_try_acquire(h, &p, nullptr), PTL_ECLOSED);
  EXPECT_EQ(ptl_release(h, held), PTL_ECLOSED);
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_limiter_stats_get(h, &s), PTL_ECLOSED);
  EXPECT_EQ(ptl_limiter_penalize(h, kMs), PTL_ECLOSED);
  EXPECT_EQ(ptl_limiter_reconfigure(h, &a), PTL_ECLOSED);
  // A new limiter of the same name is another one: the old handle stays closed, the
  // old permit is not the new limiter's.
  Lim h2 = reg.make(a, "r");
  EXPECT_EQ(ptl_acquire(h, 0, &p), PTL_ECLOSED);
  EXPECT_EQ(stats_of(h2).in_flight, 0u);
  EXPECT_EQ(ptl_release(h2, held), PTL_EINVAL);
  ASSERT_EQ(ptl_acquire(h2, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(h2, p), PTL_OK);
}

TEST(ShmRegistry, RemoveWakesWaitersWithEclosed) {
  ShmReg reg;
  ptl_limiter_config one = make_cfg(1), windowed = make_cfg(10, 1, 30.0);
  Lim c = reg.make(one, "by-concurrency");
  Lim w = reg.make(windowed, "by-window");
  ptl_permit held = 0, used = 0;
  ASSERT_EQ(ptl_acquire(c, 0, &held), PTL_OK);
  ASSERT_EQ(ptl_acquire(w, 0, &used), PTL_OK);
  ASSERT_EQ(ptl_release(w, used), PTL_OK);  // the window is full for 30 s
  Holder on_c(c), on_w(w);
  ASSERT_TRUE(wait_waiting(c, 1));
  ASSERT_TRUE(wait_waiting(w, 1));
  EXPECT_EQ(ptl_registry_remove(reg, "by-concurrency"), PTL_OK);
  EXPECT_EQ(ptl_registry_remove(reg, "by-window"), PTL_OK);
  ASSERT_TRUE(on_c.wait_done(5 * kSec)) << "a waiter slept through the removal";
  ASSERT_TRUE(on_w.wait_done(5 * kSec)) << "a waiter slept through the removal";
  EXPECT_EQ(on_c.rc(), PTL_ECLOSED);
  EXPECT_EQ(on_w.rc(), PTL_ECLOSED);
}

TEST(ShmRegistry, ResetRemovesEverything) {
  ShmReg reg;
  ptl_limiter_config a = make_cfg(2);
  for (const char* n : {"a", "b", "c"}) ASSERT_EQ(ptl_registry_register(reg, n, &a, 0), PTL_OK);
  Lim hb;
  ASSERT_EQ(ptl_registry_get(reg, "b", hb.out()), PTL_OK);
  ASSERT_EQ(ptl_registry_reset(reg), PTL_OK);
  for (const char* n : {"a", "b", "c"}) EXPECT_EQ(ptl_registry_exists(reg, n), 0) << n;
  EXPECT_EQ(count_listed(reg), 0);
  ptl_permit p = 0;
  EXPECT_EQ(ptl_acquire(hb, 0, &p), PTL_ECLOSED);
  EXPECT_EQ(ptl_registry_reset(reg), PTL_OK);
  EXPECT_EQ(ptl_registry_register(reg, "b", &a, 0), PTL_OK);
}

TEST(ShmRegistry, RegisterAndRemoveReuseTheSegment) {
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

TEST(ShmRegistry, AHugeWindowLimitCostsOnlyWhatIsUsed) {
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
