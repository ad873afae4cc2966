// The guarantees of design section 4 under real threads, checked from outside by a
// GrantObserver: never over quota, no lost counts, FIFO, no starvation, live
// reconfiguration, and a window that is used to the full.
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// Slack between a true grant and the observer's t_after, used when checking window
// spans: a thread woken by a grant may be preempted before it reads the clock. A
// fixed-bucket or approximate limiter overshoots by far more than this (see
// BoundaryBurstStaysInsideTheWindow for a check that needs no slack at all).
constexpr int64_t kSlack = 15 * kMs;  // generous: sanitizer builds on 2 busy cores

// Runs body(thread_index, rng) in n threads until `deadline` (mono ns).
// Threads that are still blocked 60 s after the deadline (a lost wake-up) end the
// process with a message instead of hanging the suite.
template <typename Body>
void hammer(int n, int64_t run_ns, Body body) {
  run_or_die(
      "hammer threads",
      [&] {
        const int64_t deadline = mono_ns() + run_ns;
        std::vector<std::thread> ts;
        for (int i = 0; i < n; ++i)
          ts.emplace_back([&, i] {
            std::mt19937 rng(static_cast<uint32_t>(1234 + i));
            while (mono_ns() < deadline) body(i, rng);
          });
        for (auto& t : ts) t.join();
      },
      run_ns + 60 * kSec);
}

void short_work(std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:
      break;
    case 1:
      std::this_thread::yield();
      break;
    case 2:
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      break;
    default: {
      const int64_t until = mono_ns() + static_cast<int64_t>(rng() % 20000);
      while (mono_ns() < until) {
      }
    }
  }
}

// One acquire of cost 1 by a mix of the ways users acquire; returns the permit or 0.
// Async grants are waited for by spinning on a flag (the callback runs elsewhere).
ptl_permit acquire_some_way(ptl_limiter* lim, std::mt19937& rng, int64_t* t_before) {
  *t_before = mono_ns();
  ptl_permit p = 0;
  switch (rng() % 5) {
    case 0:
    case 1:
      return ptl_acquire(lim, -1, &p) == PTL_OK ? p : 0;
    case 2:
      return ptl_acquire(lim, static_cast<int64_t>(rng() % 2000000), &p) == PTL_OK ? p : 0;
    case 3:
      return ptl_try_acquire(lim, &p, nullptr) == PTL_OK ? p : 0;
    default: {
      struct Slot {
        std::atomic<int> status{1};
        std::atomic<ptl_permit> permit{0};
      };
      auto slot = std::make_shared<Slot>();
      auto* keep = new std::shared_ptr<Slot>(slot);
      int rc = ptl_acquire_async(
          lim, 1, static_cast<int64_t>(rng() % 3000000),
          [](void* u, int status, ptl_permit permit) {
            auto* k = static_cast<std::shared_ptr<Slot>*>(u);
            (*k)->permit = permit;
            (*k)->status = status;
            delete k;
          },
          keep, nullptr);
      if (rc != PTL_OK) {
        delete keep;
        ADD_FAILURE() << "ptl_acquire_async: " << ptl_status_name(rc);
        return 0;
      }
      while (slot->status.load() == 1) std::this_thread::yield();
      return slot->status.load() == PTL_OK ? slot->permit.load() : 0;
    }
  }
}

// ---- never over quota ------------------------------------------------------------------

void concurrency_hammer(const ptl_limiter_config& cfg) {
  Lim lim = create_limiter(cfg);
  GrantObserver obs(1 << 16);
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> max_stats_in_flight{0};
  std::thread monitor([&] {
    while (!stop) {
      uint32_t v = stats_of(lim).in_flight;
      if (v > max_stats_in_flight) max_stats_in_flight = v;
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  std::atomic<int> release_errors{0};
  hammer(16, 600 * kMs, [&](int, std::mt19937& rng) {
    int64_t t0 = 0;
    ptl_permit p = acquire_some_way(lim, rng, &t0);
    if (!p) return;
    obs.on_grant(t0);
    short_work(rng);
    obs.on_release();
    if (ptl_release(lim, p) != PTL_OK) release_errors++;
  });
  stop = true;
  monitor.join();
  EXPECT_EQ(release_errors.load(), 0);
  EXPECT_EQ(obs.check(cfg.max_concurrent, 0, 0, 0, 0), "");
  EXPECT_EQ(obs.max_in_flight(), static_cast<int64_t>(cfg.max_concurrent))
      << "16 threads never held all " << cfg.max_concurrent << " permits at once";
  EXPECT_LE(max_stats_in_flight.load(), cfg.max_concurrent);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, obs.grants());
  EXPECT_GT(obs.grants(), 100u);
}

TEST(Guarantee, ConcurrencyNeverExceededFastMode) {
  concurrency_hammer(make_cfg(4));
}

TEST(Guarantee, ConcurrencyNeverExceededWithWindow) {
  // A window that never binds still puts the limiter on its windowed path.
  concurrency_hammer(make_cfg(4, 1000000000, 1.0));
}

TEST(Guarantee, SlidingWindowNeverExceeded) {
  // 20 per 0.2 s, 12 threads through separate registry handles, random think times so
  // grants fall anywhere in a window; ~1 s.
  constexpr int64_t kWindow = 200 * kMs;
  Reg reg;
  ptl_limiter_config cfg = make_cfg(100, 20, 0.2);
  ASSERT_EQ(ptl_registry_register(reg, "w", &cfg, 0), PTL_OK);
  GrantObserver obs(4096);
  std::vector<Lim> handles(12);
  for (auto& h : handles) ASSERT_EQ(ptl_registry_get(reg, "w", h.out()), PTL_OK);
  hammer(12, 1000 * kMs, [&](int i, std::mt19937& rng) {
    ptl_limiter* lim = handles[i];
    int64_t t0 = mono_ns();
    ptl_permit p = 0;
    int rc = (rng() % 3 == 0) ? ptl_acquire(lim, static_cast<int64_t>(rng() % 50) * kMs, &p)
                              : ptl_acquire(lim, 300 * kMs, &p);
    if (rc != PTL_OK) return;
    obs.on_grant(t0);
    obs.on_release();
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
  });
  EXPECT_EQ(obs.check(100, 20, 0, kWindow, kSlack), "");
  EXPECT_GE(obs.grants(), 60u) << "the window was hardly used";
  EXPECT_EQ(stats_of(handles[0]).total_acquired, obs.grants());
}

TEST(Guarantee, BoundaryBurstStaysInsideTheWindow) {
  // 10 per 0.3 s. One grant at g0, then at g0 + 0.7 W a burst of 20 requests. A strict
  // sliding window grants 9 at once, 1 at g0 + W, 9 at ~g0 + 1.7 W, 1 at ~g0 + 2 W.
  // A fixed-bucket limiter grants 9 + 10 around g0 + W. Every grant here follows g0,
  // so "no more than 10 with t_after < t_before(g0) + W" needs no slack at all.
  constexpr int64_t kWindow = 300 * kMs;
  Lim lim = create_limiter(make_cfg(100, 10, 0.3));
  GrantObserver obs(64);
  const int64_t t0 = mono_ns();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  obs.on_grant(t0);
  obs.on_release();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  sleep_ns(t0 + 7 * kWindow / 10 - mono_ns());
  std::vector<std::thread> ts;
  for (int i = 0; i < 20; ++i)
    ts.emplace_back([&] {
      int64_t tb = mono_ns();
      ptl_permit q = 0;
      ASSERT_EQ(ptl_acquire(lim, 10 * kSec, &q), PTL_OK);
      obs.on_grant(tb);
      obs.on_release();
      EXPECT_EQ(ptl_release(lim, q), PTL_OK);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(obs.grants(), 21u);
  EXPECT_LE(obs.count_between(t0, t0 + kWindow), 10u) << "more than 10 grants in [g0, g0 + W)";
  EXPECT_EQ(obs.check(100, 10, 0, kWindow, kSlack), "");
  // And the window is used: 19 of the 20 late requests fit by g0 + 1.7 W + margin.
  EXPECT_GE(obs.count_between(t0, t0 + 17 * kWindow / 10 + 100 * kMs), 20u)
      << "grants held back longer than the window requires";
}

TEST(Guarantee, WeightedCostWindowNeverExceeded) {
  // 100 cost units per 0.2 s; random costs 1..30, half corrected downwards on release.
  constexpr int64_t kWindow = 200 * kMs;
  Lim lim = create_limiter(make_cfg(50, 0, 0.2, 100));
  GrantObserver obs(4096);
  std::atomic<uint64_t> granted_cost{0};
  hammer(10, 1000 * kMs, [&](int, std::mt19937& rng) {
    const uint64_t cost = 1 + rng() % 30;
    int64_t t0 = mono_ns();
    ptl_permit p = 0;
    if (ptl_acquire_cost(lim, cost, 300 * kMs, &p) != PTL_OK) return;
    size_t idx = obs.on_grant(t0, cost);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    obs.on_release();
    if (rng() % 2) {
      const uint64_t actual = cost / 2;
      obs.set_cost(idx, actual);
      granted_cost += actual;
      EXPECT_EQ(ptl_release_cost(lim, p, actual), PTL_OK);
    } else {
      granted_cost += cost;
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 10000));
  });
  EXPECT_EQ(obs.check(50, 0, 100, kWindow, kSlack), "");
  EXPECT_GE(granted_cost.load(), 300u) << "the cost window was hardly used";
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

// ---- FIFO ------------------------------------------------------------------------------

// Starts waiter k only when waiters 0..k-1 are seen queued; each records its tag while
// holding the permit (max_concurrent 1, so recording order is grant order).
void fifo_run(const ptl_limiter_config& cfg, int n, bool use_cost) {
  Lim lim = create_limiter(cfg);
  GrantObserver obs(64);
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  std::vector<std::thread> ts;
  for (int k = 0; k < n; ++k) {
    ts.emplace_back([&, k] {
      int64_t t0 = mono_ns();
      ptl_permit p = 0;
      int rc = use_cost ? ptl_acquire_cost(lim, 1 + static_cast<uint64_t>(k % 3), 30 * kSec, &p)
                        : ptl_acquire(lim, 30 * kSec, &p);
      ASSERT_EQ(rc, PTL_OK);
      obs.on_grant(t0, 1, k);
      obs.on_release();
      EXPECT_EQ(ptl_release(lim, p), PTL_OK);
    });
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(k + 1))) << "waiter " << k;
  }
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  for (auto& t : ts) t.join();
  std::vector<int> expected(n);
  for (int k = 0; k < n; ++k) expected[k] = k;
  EXPECT_EQ(obs.check_order(expected), "");
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(Guarantee, FifoByConcurrency) {
  fifo_run(make_cfg(1), 12, false);
}

TEST(Guarantee, FifoByConcurrencyAndWindow) {
  fifo_run(make_cfg(1, 1, 0.02), 8, false);
}

TEST(Guarantee, FifoWithCosts) {
  fifo_run(make_cfg(1, 0, 0.02, 3), 8, true);
}

TEST(Guarantee, FifoByWindowAlone) {
  // Plenty of concurrency, 1 grant per window. The window is first 30 s long so the
  // waiters queue in a known order without time pressure; then it is cut to 40 ms and
  // they must come out 40 ms apart, in arrival order.
  constexpr int64_t kWindow = 40 * kMs;
  Lim lim = create_limiter(make_cfg(100, 1, 30.0));
  GrantObserver obs(64);
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  obs.on_grant(t0, 1, -1);
  obs.on_release();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  std::vector<std::thread> ts;
  constexpr int kN = 6;
  for (int k = 0; k < kN; ++k) {
    ts.emplace_back([&, k] {
      int64_t tb = mono_ns();
      ptl_permit q = 0;
      ASSERT_EQ(ptl_acquire(lim, 30 * kSec, &q), PTL_OK);
      obs.on_grant(tb, 1, k);
      obs.on_release();
      EXPECT_EQ(ptl_release(lim, q), PTL_OK);
    });
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(k + 1))) << "waiter " << k;
  }
  ptl_limiter_config shorter = make_cfg(100, 1, 0.04);
  ASSERT_EQ(ptl_limiter_reconfigure(lim, &shorter), PTL_OK);
  for (auto& t : ts) t.join();
  std::vector<GrantRecord> rs = obs.records();
  std::sort(rs.begin(), rs.end(),
            [](const GrantRecord& a, const GrantRecord& b) { return a.t_after < b.t_after; });
  std::vector<int> order;
  for (auto& r : rs) order.push_back(r.tag);
  EXPECT_EQ(order, (std::vector<int>{-1, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(obs.check(0, 1, 0, kWindow, kSlack), "");
}

// ---- no trace of timeouts and cancels --------------------------------------------------

void storm(const ptl_limiter_config& cfg, double window_s) {
  Lim lim = create_limiter(cfg);
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

TEST(Guarantee, TimeoutAndCancelStormLeavesNoTrace) {
  storm(make_cfg(3), 0.0);
}

TEST(Guarantee, TimeoutAndCancelStormLeavesNoTraceWithWindow) {
  storm(make_cfg(3, 2000, 0.1), 0.1);
}

// ---- liveness --------------------------------------------------------------------------

TEST(Guarantee, NobodyStarves) {
  constexpr int kThreads = 12, kEach = 40;
  Lim lim = create_limiter(make_cfg(2, 100, 0.1));  // 480 grants at <= 1000/s
  std::vector<int> done(kThreads, 0);
  run_or_die("12 threads x 40 acquires", [&] {
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i)
      ts.emplace_back([&, i] {
        for (int k = 0; k < kEach; ++k) {
          ptl_permit p = 0;
          ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK) << "thread " << i << " starved";
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          ASSERT_EQ(ptl_release(lim, p), PTL_OK);
          done[i]++;
        }
      });
    for (auto& t : ts) t.join();
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(done[i], kEach) << "thread " << i;
  EXPECT_EQ(stats_of(lim).total_acquired, static_cast<uint64_t>(kThreads * kEach));
}

// ---- live reconfiguration --------------------------------------------------------------

TEST(Guarantee, ReconfigureUnderLoadNeverExceedsTheLimitInForce) {
  // The limit in force is a step function of time; while a reconfigure call runs, the
  // larger of old and new applies. For a grant whose acquire started at t_before and
  // whose in-flight sample was taken before t_sampled, a correct limiter keeps the
  // observed in-flight count at most the largest limit in force over that interval.
  Lim lim = create_limiter(make_cfg(3));
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
  hammer(12, 700 * kMs, [&](int, std::mt19937& rng) {
    int64_t t0 = 0;
    ptl_permit p = acquire_some_way(lim, rng, &t0);
    if (!p) return;
    obs.on_grant(t0);
    short_work(rng);
    obs.on_release();
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  });
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

// ---- the quota is used -----------------------------------------------------------------

TEST(Guarantee, WindowQuotaIsUsedToTheFull) {
  // 10 concurrent, 20 per 0.2 s, 10 threads that always want a permit: in five windows
  // from the first grant a strict sliding window allows 100 grants; expect >= 90.
  constexpr int64_t kWindow = 200 * kMs;
  Lim lim = create_limiter(make_cfg(10, 20, 0.2));
  GrantObserver obs(1024);
  hammer(10, 5 * kWindow + 50 * kMs, [&](int, std::mt19937&) {
    int64_t t0 = mono_ns();
    ptl_permit p = 0;
    if (ptl_acquire(lim, 100 * kMs, &p) != PTL_OK) return;
    obs.on_grant(t0);
    obs.on_release();
    EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  });
  std::vector<GrantRecord> rs = obs.records();
  ASSERT_FALSE(rs.empty());
  int64_t first = INT64_MAX;
  for (auto& r : rs) first = std::min(first, r.t_after);
  const size_t in_five = obs.count_between(first, first + 5 * kWindow);
  EXPECT_GE(in_five, 90u) << "a strict window of 20 per 0.2 s allows 100 in 1 s";
  EXPECT_EQ(obs.check(10, 20, 0, kWindow, kSlack), "");
}

}  // namespace
}  // namespace ptl_test
