// SPDX-License-Identifier: MIT
// ptl::Registry and ptl::registry(): the shared-limiter pattern, named limiters shared by threads,
// and the registry operations with their errors.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "cpp_test_util.hpp"

namespace ptl_cpp_test {
namespace {

using namespace std::chrono_literals;

// Stands in for the upstream call; records how many calls run at once.
InFlightObserver g_openai;
void call_openai(int /*item*/) {
  g_openai.enter();
  std::this_thread::yield();
  g_openai.leave();
}

TEST(CppRegistry, SharedLimiterPatternNeverExceedsMaxConcurrent) {
  ptl::registry().remove("openai");  // a repeated run (--gtest_repeat) starts afresh

  // The shared-limiter pattern, as users write it:
  ptl::registry().register_limiter("openai", {.max_concurrent = 10, .max_per_window = 60});

  constexpr int kThreads = 24;
  constexpr int kPerThread = 2;  // 48 calls: within the 60 per minute, so nobody waits a minute
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int item = t * kPerThread + i;
        {
          auto permit = ptl::registry().get("openai").acquire();
          call_openai(item);
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_LE(g_openai.max(), 10) << "more calls ran at once than max_concurrent";
  EXPECT_GE(g_openai.max(), 1);
  const ptl::LimiterStats s = ptl::registry().stats("openai");
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(s.current_window_count, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_TRUE(ptl::registry().remove("openai"));
}

TEST(CppRegistry, ManyThreadsUnderATightLimitNeverExceedIt) {
  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("api", {.max_concurrent = 3});
  InFlightObserver observer;
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const ptl::Limiter api = reg.get("api");
      for (int i = 0; i < kPerThread; ++i) {
        auto permit = api.acquire();
        observer.enter();
        std::this_thread::yield();
        observer.leave();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(observer.max(), 3);
  const ptl::LimiterStats s = reg.stats("api");
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST(CppRegistry, PrivateRegistryIsIndependentOfTheDefault) {
  const std::string name = unique_name("private");
  ptl::Registry reg = ptl::Registry::open("local:");
  EXPECT_NE(reg.native_handle(), nullptr);
  EXPECT_EQ(ptl::registry().native_handle(), nullptr);
  reg.register_limiter(name, {.max_concurrent = 2});
  EXPECT_TRUE(reg.exists(name));
  EXPECT_FALSE(ptl::registry().exists(name));
  ptl::Registry other = ptl::Registry::open("local:");
  EXPECT_FALSE(other.exists(name));
}

TEST(CppRegistry, RegisterTwiceIsEexistUnlessReplacing) {
  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("svc", {.max_concurrent = 2});
  try {
    reg.register_limiter("svc", {.max_concurrent = 3});
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EEXIST);
    EXPECT_NE(std::string(e.what()).find("svc"), std::string::npos) << e.what();
  }
  ptl::Limiter svc = reg.get("svc");
  ptl::Permit held = svc.acquire();
  reg.register_limiter("svc", {.max_concurrent = 3, .max_per_window = 9}, /*replace=*/true);
  const ptl::LimiterStats s = svc.stats();  // the handle sees the change: same limiter
  EXPECT_EQ(s.config, (ptl::LimiterConfig{.max_concurrent = 3, .max_per_window = 9}));
  EXPECT_EQ(s.in_flight, 1u) << "replace dropped the permit in flight";
}

TEST(CppRegistry, GetUnknownIsNotFoundNamingTheLimiter) {
  ptl::Registry reg = ptl::Registry::open("local:");
  try {
    (void)reg.get("nobody-registered-me");
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ENOTFOUND);
    EXPECT_NE(std::string(e.what()).find("nobody-registered-me"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)reg.stats("nobody-registered-me"), ptl::Error);
}

TEST(CppRegistry, BadNamesAreEinval) {
  ptl::Registry reg = ptl::Registry::open("local:");
  const std::string too_long(256, 'x');
  const std::string cases[] = {"", "\xff\xfe", "\xc0\xaf" /* overlong '/' */, too_long,
                               std::string("nul\0inside", 10)};
  for (const std::string& name : cases) {
    try {
      reg.register_limiter(name, {});
      ADD_FAILURE() << "registered a bad name of " << name.size() << " bytes";
    } catch (const ptl::Error& e) {
      EXPECT_EQ(e.status(), PTL_EINVAL) << e.what();
      EXPECT_STRNE(e.what(), "");
    }
    EXPECT_THROW((void)reg.get(name), ptl::Error);
    EXPECT_THROW((void)reg.exists(name), ptl::Error);
  }
  EXPECT_TRUE(reg.list().empty());
  reg.register_limiter(std::string(255, 'x'), {});  // the longest valid name
  reg.register_limiter("\xe2\x82\xac-euro", {});    // multi-byte UTF-8
  EXPECT_EQ(reg.list().size(), 2u);
}

TEST(CppRegistry, UnknownUriSchemeIsEinval) {
  try {
    (void)ptl::Registry::open("carrier-pigeon://loft");
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
    EXPECT_STRNE(e.what(), "");
  }
}

TEST(CppRegistry, GetOrCreateRegistersOnceAndKeepsTheFirstConfig) {
  ptl::Registry reg = ptl::Registry::open("local:");
  ptl::Limiter a = reg.get_or_create("x", {.max_concurrent = 2});
  ptl::Limiter b = reg.get_or_create("x", {.max_concurrent = 7});
  EXPECT_EQ(a, b);
  EXPECT_EQ(b.stats().config.max_concurrent, 2u);
  const ptl::Limiter created = reg.get_or_create("defaults");
  EXPECT_EQ(created, reg.get("defaults"));
  EXPECT_EQ(reg.get("defaults").stats().config, ptl::LimiterConfig{});
}

TEST(CppRegistry, ListIsInNameOrderWithConfigs) {
  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("b", {.max_concurrent = 2});
  reg.register_limiter("a", {.max_concurrent = 1, .max_per_window = 5, .window_seconds = 2});
  reg.register_limiter("c", {.max_cost_per_window = 1000});
  const std::vector<ptl::RegistryEntry> entries = reg.list();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[0].config,
            (ptl::LimiterConfig{.max_concurrent = 1, .max_per_window = 5, .window_seconds = 2}));
  EXPECT_EQ(entries[1].name, "b");
  EXPECT_EQ(entries[2].name, "c");
  EXPECT_EQ(entries[2].config.max_cost_per_window, 1000u);
}

TEST(CppRegistry, RemoveAndResetKeepHandlesWorking) {
  ptl::Registry reg = ptl::Registry::open("local:");
  reg.register_limiter("gone", {.max_concurrent = 1});
  reg.register_limiter("also-gone", {});
  ptl::Limiter handle = reg.get("gone");
  EXPECT_TRUE(reg.remove("gone"));
  EXPECT_FALSE(reg.remove("gone"));
  EXPECT_FALSE(reg.exists("gone"));
  {
    ptl::Permit p = handle.acquire();  // the removed limiter still works through its handle
    EXPECT_FALSE(handle.try_acquire().has_value());
  }
  EXPECT_EQ(handle.stats().in_flight, 0u);
  reg.reset();
  EXPECT_TRUE(reg.list().empty());
  EXPECT_THROW((void)reg.get("also-gone"), ptl::Error);
}

TEST(CppRegistry, HandlesOutliveTheRegistry) {
  ptl::Limiter lim;
  ptl::Permit p;
  {
    ptl::Registry reg = ptl::Registry::open("local:");
    reg.register_limiter("svc", {.max_concurrent = 1});
    lim = reg.get("svc");
    p = lim.acquire();
  }
  EXPECT_EQ(lim.stats().in_flight, 1u);
  p.release();
  EXPECT_EQ(lim.stats().in_flight, 0u);
}

TEST(CppRegistry, MovedRegistryIsClosedOnce) {
  ptl::Registry a = ptl::Registry::open("local:");
  a.register_limiter("svc", {});
  ptl::Registry b = std::move(a);
  EXPECT_EQ(a.native_handle(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.exists("svc"));
  ptl::Registry c = ptl::Registry::open("local:");
  c = std::move(b);  // closes c's own registry
  EXPECT_TRUE(c.exists("svc"));
}

}  // namespace
}  // namespace ptl_cpp_test
