// SPDX-License-Identifier: MIT
// The guarantees under real threads, on every backend: no trace of timeouts and
// cancels, and live reconfiguration under load.
#include <mutex>
#include <random>
#include <vector>

#include "conformance.hpp"
#include "guarantees_util.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(UnderLoad);

// ---- no trace of timeouts and cancels --------------------------------------------------

void storm(ptl_limiter* lim, const ptl_limiter_config& cfg, double window_s) {
  GrantObserver obs(1 << 16);
  std::atomic<uint64_t> oks{0}, timeouts{0}, cancels{0}, agains{0}, started_async{0};
  struct AsyncReq {
    ptl_limiter* lim;
    GrantObserver* obs;
    std::atomic<uint64_t>*oks, *timeouts, *cancels, *agains;
    std::atomic<int>* done;
    int64_t t0;
  };
  std::atomic<int> async_done{0};
  auto cb = [](void* u, int status, ptl_permit p) {
    auto* r = static_cast<AsyncReq*>(u);
    if (status == PTL_OK) {
      r->obs->on_grant(r->t0);
      r->obs->on_release();
      (*r->oks)++;
      EXPECT_EQ(ptl_release(r->lim, p), PTL_OK);
    } else if (status == PTL_ETIMEDOUT) {
      (*r->timeouts)++;
    } else if (status == PTL_ECANCELED) {
      (*r->cancels)++;
    } else if (status == PTL_EAGAIN) {
      (*r->agains)++;
    } else {
      ADD_FAILURE() << "async status " << ptl_status_name(status);
    }
    (*r->done)++;
    delete r;
  };
  hammer(8, 600 * kMs, [&](int, std::mt19937& rng) {
    const int64_t timeout = 1000 + static_cast<int64_t>(rng() % 2000000);  // 1 us .. 2 ms
    const int64_t t0 = mono_ns();
    ptl_permit p = 0;
    switch (rng() % 3) {
      case 0: {
        int rc = ptl_acquire(lim, timeout, &p);
        if (rc == PTL_OK) {
          obs.on_grant(t0);
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
          obs.on_release();
          EXPECT_EQ(ptl_release(lim, p), PTL_OK);
          oks++;
        } else {
          ASSERT_EQ(rc, PTL_ETIMEDOUT) << "acquire with a positive timeout";
          timeouts++;
        }
        break;
      }
      case 1: {
        int rc = ptl_try_acquire(lim, &p, nullptr);
        if (rc == PTL_OK) {
          obs.on_grant(t0);
          obs.on_release();
          EXPECT_EQ(ptl_release(lim, p), PTL_OK);
          oks++;
        } else {
          ASSERT_EQ(rc, PTL_EAGAIN);
        }
        break;
      }
      default: {
        auto* req = new AsyncReq{lim, &obs, &oks, &timeouts, &cancels, &agains, &async_done, t0};
        uint64_t ticket = 0;
        const bool infinite = rng() % 2;
        int rc = ptl_acquire_async(lim, 1, infinite ? -1 : timeout, cb, req, &ticket);
        ASSERT_EQ(rc, PTL_OK);
        started_async++;
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        int crc = ptl_cancel(lim, ticket);
        ASSERT_TRUE(crc == PTL_OK || crc == PTL_ENOTFOUND) << ptl_status_name(crc);
      }
    }
  });
  ASSERT_TRUE(wait_until([&] {
    return async_done.load() == static_cast<int>(started_async.load());
  })) << async_done.load()
      << " of " << started_async.load() << " async callbacks ran";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(async_done.load(), static_cast<int>(started_async.load())) << "a callback ran twice";
  EXPECT_EQ(obs.check(cfg.max_concurrent, 0, 0, 0, 0), "");
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u) << "a timed-out or cancelled acquire left a permit behind";
  EXPECT_EQ(s.waiting, 0u) << "a timed-out or cancelled acquire left a waiter behind";
  EXPECT_EQ(s.total_acquired, oks.load());
  EXPECT_EQ(s.total_timeouts, timeouts.load());
  EXPECT_EQ(s.total_cancelled, cancels.load());
  EXPECT_GT(timeouts.load(), 0u) << "the storm produced no timeouts: test too weak";
  EXPECT_GT(cancels.load(), 0u) << "the storm produced no cancels: test too weak";
  EXPECT_EQ(agains.load(), 0u) << "an async acquire with a positive timeout reported EAGAIN";
  // The full capacity is there again once the window has slid.
  std::this_thread::sleep_for(
      std::chrono::nanoseconds(static_cast<int64_t>(window_s * 1e9) + 20 * kMs));
  std::vector<ptl_permit> ps(cfg.max_concurrent);
  for (auto& p : ps) ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
  ptl_permit extra = 0;
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim, &extra, &retry), PTL_EAGAIN);
  EXPECT_EQ(retry, -1);
  for (auto p : ps) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_P(UnderLoad, TimeoutAndCancelStormLeavesNoTrace) {
  const ptl_limiter_config cfg = make_cfg(3);
  storm(make(cfg), cfg, 0.0);
}

// real time on purpose: on local: too, thousands of async deadlines of 1 us to 2 ms run on the
// library's timer thread, racing with grants and cancels.
TEST_P(UnderLoad, TimeoutAndCancelStormLeavesNoTraceWithWindow) {
  const ptl_limiter_config cfg = make_cfg(3, 2000, 0.1);
  storm(make(cfg), cfg, 0.1);
}

// ---- live reconfiguration --------------------------------------------------------------

TEST_P(UnderLoad, ReconfigureNeverExceedsTheLimitInForce) {
  // The limit in force is a step function of time; while a reconfigure call runs, the
  // larger of old and new applies. For a grant whose acquire started at t_before and
  // whose in-flight sample was taken before t_sampled, a correct limiter keeps the
  // observed in-flight count at most the largest limit in force over that interval.
  Lim lim = make(make_cfg(3));
  GrantObserver obs(1 << 16);
  struct Step {
    int64_t from;
    uint32_t limit;
  };
  std::mutex steps_mu;
  std::vector<Step> steps{{0, 3}};
  std::atomic<bool> stop{false};
  std::thread controller([&] {
    const uint32_t limits[] = {1, 4, 2, 6, 3, 1, 5, 2};
    uint32_t current = 3;
    for (int i = 0; !stop; ++i) {
      const uint32_t next = limits[i % 8];
      // Alternate between a concurrency-only limiter and one with a (non-binding)
      // window, so reconfigure also switches the limiter's mode.
      ptl_limiter_config cfg = make_cfg(next, (i % 3 == 0) ? 0 : 1000000000, 1.0);
      {
        std::lock_guard<std::mutex> lock(steps_mu);
        steps.push_back({mono_ns(), std::max(current, next)});
      }
      EXPECT_EQ(ptl_limiter_reconfigure(lim, &cfg), PTL_OK);
      {
        std::lock_guard<std::mutex> lock(steps_mu);
        steps.push_back({mono_ns(), next});
      }
      current = next;
      std::this_thread::sleep_for(std::chrono::milliseconds(7));
    }
  });
  hammer(12, 700 * kMs,
         [&](int, std::mt19937& rng) { EXPECT_EQ(observed_call(lim, obs, rng), PTL_OK); });
  stop = true;
  controller.join();
  ASSERT_GT(steps.size(), 20u);
  auto max_limit = [&](int64_t a, int64_t b) {
    uint32_t m = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
      const int64_t end = i + 1 < steps.size() ? steps[i + 1].from : INT64_MAX;
      if (steps[i].from <= b && end >= a) m = std::max(m, steps[i].limit);
    }
    return m;
  };
  int violations = 0;
  for (const GrantRecord& r : obs.records()) {
    const uint32_t m = max_limit(r.t_before, r.t_sampled);
    if (r.in_flight > static_cast<int64_t>(m) && violations++ < 5)
      ADD_FAILURE() << "in flight " << r.in_flight << " > largest limit in force " << m
                    << " during [" << r.t_before << ", " << r.t_sampled << "]";
  }
  EXPECT_EQ(violations, 0);
  EXPECT_LE(obs.max_in_flight(), 6);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, obs.grants());
}

}  // namespace
}  // namespace ptl_test
