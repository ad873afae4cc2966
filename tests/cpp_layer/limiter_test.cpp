// SPDX-License-Identifier: MIT
// ptl::LimiterConfig, ptl::Limiter, ptl::Permit and ptl::Error: RAII, move semantics,
// timeouts, try-acquire and how failures surface.
#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <type_traits>

#include "cpp_test_util.hpp"

namespace ptl_cpp_test {
namespace {

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<ptl::Permit>);
static_assert(std::is_nothrow_move_constructible_v<ptl::Permit>);
static_assert(std::is_nothrow_destructible_v<ptl::Permit>);
static_assert(std::is_copy_constructible_v<ptl::Limiter>);
static_assert(!std::is_copy_constructible_v<ptl::Registry>);
static_assert(std::is_aggregate_v<ptl::LimiterConfig>);

TEST(CppConfig, DefaultsMatchTheCApi) {
  ptl_limiter_config c;
  ptl_limiter_config_init(&c);
  EXPECT_EQ(ptl::LimiterConfig{}, ptl::LimiterConfig::from_c(c));
  const ptl::LimiterConfig cfg{.max_concurrent = 10, .max_per_window = 60};
  EXPECT_EQ(cfg.max_concurrent, 10u);
  EXPECT_EQ(cfg.max_per_window, 60u);
  EXPECT_EQ(cfg.window_seconds, 60.0);
  EXPECT_EQ(cfg.max_cost_per_window, 0u);
  const ptl_limiter_config converted = cfg;
  EXPECT_EQ(converted.struct_size, sizeof(ptl_limiter_config));
  EXPECT_EQ(converted.max_concurrent, 10u);
  EXPECT_EQ(converted.max_per_window, 60u);
}

TEST(CppLimiter, PermitIsReleasedAtScopeExit) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 2});
  {
    ptl::Permit a = lim.acquire();
    ptl::Permit b = lim.acquire();
    EXPECT_TRUE(a);
    EXPECT_NE(a.value(), b.value());
    EXPECT_EQ(a.limiter(), lim);
    EXPECT_EQ(lim.stats().in_flight, 2u);
    EXPECT_FALSE(lim.try_acquire().has_value()) << "a third permit of max_concurrent 2";
  }
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 2u);
}

TEST(CppLimiter, PermitIsReleasedWhenAnExceptionUnwinds) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  EXPECT_THROW(
      {
        auto permit = lim.acquire();
        throw std::runtime_error("the API call failed");
      },
      std::runtime_error);
  EXPECT_EQ(lim.stats().in_flight, 0u);
}

TEST(CppLimiter, MovesTransferOwnershipWithoutDoubleRelease) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 3});
  ptl::Permit a = lim.acquire();
  const ptl_permit value = a.value();
  ptl::Permit b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is documented empty
  EXPECT_EQ(a.value(), 0u);
  EXPECT_EQ(b.value(), value);
  EXPECT_EQ(lim.stats().in_flight, 1u);

  ptl::Permit c = lim.acquire();
  EXPECT_EQ(lim.stats().in_flight, 2u);
  c = std::move(b);  // c's own permit goes back; b's moves in
  EXPECT_EQ(lim.stats().in_flight, 1u);
  EXPECT_EQ(c.value(), value);

  std::vector<ptl::Permit> held;
  held.push_back(std::move(c));
  held.push_back(lim.acquire());
  held.reserve(64);  // reallocation moves the permits
  EXPECT_EQ(lim.stats().in_flight, 2u);
  held.clear();
  EXPECT_EQ(lim.stats().in_flight, 0u);
  EXPECT_EQ(lim.stats().total_acquired, 3u);
}

TEST(CppLimiter, ExplicitReleaseEmptiesThePermitAndASecondOneThrows) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit p = lim.acquire();
  p.release();
  EXPECT_FALSE(p);
  EXPECT_EQ(lim.stats().in_flight, 0u);
  try {
    p.release();
    FAIL() << "a second release did not throw";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
  }
  EXPECT_EQ(lim.stats().in_flight, 0u);
  // The slot freed by the first release is usable again.
  EXPECT_TRUE(lim.try_acquire().has_value());
}

TEST(CppLimiter, ReleaseWithActualCostCorrectsTheWindow) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 4, .max_cost_per_window = 1000});
  ptl::Permit p = lim.acquire_cost(300);
  EXPECT_EQ(lim.stats().current_window_cost, 300u);
  p.release(120);
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.current_window_cost, 120u);
  EXPECT_EQ(s.in_flight, 0u);
}

TEST(CppLimiter, CostAboveTheWindowLimitIsInvalid) {
  ptl::Limiter lim = ptl::Limiter::create({.max_cost_per_window = 100});
  try {
    (void)lim.acquire_cost(101, 1s);
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
    EXPECT_STRNE(e.what(), "");
  }
}

TEST(CppLimiter, TimedAcquireThrowsTimedOutAndLeavesNoTrace) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  try {
    (void)lim.acquire(20ms);
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ETIMEDOUT);
    EXPECT_STREQ(e.status_name(), "PTL_ETIMEDOUT");
    EXPECT_NE(std::string(e.what()).find("20000000 ns"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(lim.try_acquire_for(5ms).has_value());
  EXPECT_FALSE(lim.try_acquire_for(-1s).has_value()) << "a negative timeout tries once";
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_GE(s.total_timeouts, 2u);
}

TEST(CppLimiter, ZeroTimeoutTriesOnce) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire(0s);
  try {
    (void)lim.acquire(0s);
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EAGAIN);
  }
}

TEST(CppLimiter, WaiterIsGrantedWhenAnotherThreadReleases) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  auto waiter =
      std::async(std::launch::async, [lim] { return lim.acquire(std::chrono::hours(1)); });
  ASSERT_TRUE(wait_waiting(lim, 1));
  held.release();
  ptl::Permit got = waiter.get();
  EXPECT_TRUE(got);
  EXPECT_EQ(lim.stats().in_flight, 1u);
}

TEST(CppLimiter, HugeTimeoutsWaitForever) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  auto waiter = std::async(std::launch::async, [lim] {
    return lim.try_acquire_for(std::chrono::duration<double, std::ratio<31557600>>(1e12));
  });
  ASSERT_TRUE(wait_waiting(lim, 1)) << "an overflowing timeout did not wait";
  held.release();
  EXPECT_TRUE(waiter.get().has_value());
}

TEST(CppLimiter, TryAcquireReportsRetryAfter) {
  ptl::Limiter busy = ptl::Limiter::create({.max_concurrent = 1});
  ptl::TryAcquireResult first = busy.try_acquire_with_retry_after();
  ASSERT_TRUE(first);
  EXPECT_FALSE(first.retry_after.has_value());
  // Held: only a release frees capacity, so there is no time to wait for.
  ptl::TryAcquireResult none = busy.try_acquire_with_retry_after();
  EXPECT_FALSE(none);
  EXPECT_FALSE(none.permit);
  EXPECT_FALSE(none.retry_after.has_value());

  // The window's one grant is spent: capacity frees when that grant leaves the window.
  ptl::Limiter windowed = ptl::Limiter::create({.max_concurrent = 5, .max_per_window = 1});
  ASSERT_TRUE(windowed.try_acquire().has_value());
  ptl::TryAcquireResult later = windowed.try_acquire_with_retry_after();
  EXPECT_FALSE(later);
  ASSERT_TRUE(later.retry_after.has_value());
  EXPECT_GT(*later.retry_after, 0ns);
  EXPECT_LE(*later.retry_after, 60s);
}

TEST(CppLimiter, PenalizePausesEverySharer) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 5});
  ptl::Limiter sharer = lim;  // another component's handle on the same limiter
  lim.penalize(1h);
  ptl::TryAcquireResult r = sharer.try_acquire_with_retry_after();
  EXPECT_FALSE(r);
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_GT(*r.retry_after, 59min);
}

TEST(CppLimiter, ReconfigureChangesLimitsInPlace) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit a = lim.acquire();
  lim.reconfigure({.max_concurrent = 2, .max_per_window = 100, .window_seconds = 30});
  EXPECT_EQ(lim.stats().config,
            (ptl::LimiterConfig{.max_concurrent = 2, .max_per_window = 100, .window_seconds = 30}));
  ptl::Permit b = lim.try_acquire().value();
  EXPECT_EQ(lim.stats().in_flight, 2u) << "the permit held across reconfigure still counts";
  EXPECT_FALSE(lim.try_acquire().has_value());
}

TEST(CppLimiter, PermitOutlivesEveryLimiterHandle) {
  ptl::Permit p;
  ptl::Limiter observer;
  {
    ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
    observer = lim;
    p = lim.acquire();
  }
  observer = ptl::Limiter();
  EXPECT_TRUE(p);
  EXPECT_NO_THROW(p.release()) << "the permit's own reference kept the limiter alive";
}

TEST(CppLimiter, CopiesShareOneLimiter) {
  ptl::Limiter a = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Limiter b = a;
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.native_handle(), b.native_handle());
  ptl::Permit p = a.acquire();
  EXPECT_FALSE(b.try_acquire().has_value());
  EXPECT_NE(ptl::Limiter::create(), a);
}

TEST(CppLimiter, AdoptAndShareInteroperateWithTheCApi) {
  ptl_limiter_config c = ptl::LimiterConfig{.max_concurrent = 1};
  ptl_limiter* raw = nullptr;
  ASSERT_EQ(ptl_limiter_create(&c, &raw), PTL_OK);
  ptl::Limiter shared = ptl::Limiter::share(raw);
  ptl_permit v = 0;
  ASSERT_EQ(ptl_acquire(raw, 0, &v), PTL_OK);
  ptl::Permit p = ptl::Permit::adopt(shared, v);
  ptl_limiter_unref(raw);  // the C side lets go; the C++ handles keep it alive
  EXPECT_EQ(shared.stats().in_flight, 1u);
  p.release();
  EXPECT_EQ(shared.stats().in_flight, 0u);
}

TEST(CppErrors, InvalidConfigNamesTheProblem) {
  try {
    (void)ptl::Limiter::create({.max_concurrent = 0});
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
    EXPECT_NE(std::string(e.what()).find("max_concurrent"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)ptl::Limiter::create({.window_seconds = 0.0}), ptl::Error);
}

TEST(CppErrors, EmptyLimiterThrowsInsteadOfCrashing) {
  ptl::Limiter empty;
  EXPECT_FALSE(empty);
  try {
    (void)empty.acquire();
    FAIL() << "no exception";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
  }
  EXPECT_THROW((void)empty.stats(), ptl::Error);
  EXPECT_THROW((void)empty.try_acquire(), ptl::Error);
}

TEST(CppErrors, RateLimitHitIsAnErrorWithRetryAfter) {
  try {
    throw ptl::RateLimitHit("HTTP 429 from openai", 1500ms);
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_ERATELIMITED);
    EXPECT_STREQ(e.what(), "HTTP 429 from openai");
    const auto* hit = dynamic_cast<const ptl::RateLimitHit*>(&e);
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->retry_after(), std::chrono::nanoseconds(1500ms));
  }
  EXPECT_FALSE(ptl::RateLimitHit().retry_after().has_value());
}

}  // namespace
}  // namespace ptl_cpp_test
