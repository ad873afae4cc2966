// SPDX-License-Identifier: MIT
// ptl_acquire_async on every backend: callbacks that call back in, races with cancel, one
// FIFO line with sync waiters, many waiters of several registries each served once.
#include <memory>
#include <mutex>
#include <vector>

#include "async_util.hpp"
#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(AsyncCallback);

TEST_P(AsyncCallback, CallbacksMayReleaseAndAcquireAgain) {
  // A callback that releases its permit and starts the next acquire: a chain of 200
  // async acquires on a one-permit limiter, each completed exactly once.
  Lim lim = make(make_cfg(1, 0, 1.0));
  struct Chain {
    ptl_limiter* lim;
    std::atomic<int> done{0};
    std::atomic<int> bad{0};
    int target = 200;
    static void cb(void* u, int status, ptl_permit p) {
      auto* c = static_cast<Chain*>(u);
      if (status != PTL_OK || ptl_release(c->lim, p) != PTL_OK) c->bad++;
      if (c->done.fetch_add(1) + 1 < c->target)
        if (ptl_acquire_async(c->lim, 1, -1, &Chain::cb, c, nullptr) != PTL_OK) c->bad++;
    }
  } chain{lim};
  run_or_die("re-entrant async chain", [&] {
    ASSERT_EQ(ptl_acquire_async(lim, 1, -1, &Chain::cb, &chain, nullptr), PTL_OK);
    ASSERT_TRUE(wait_until([&] { return chain.done.load() >= chain.target; }));
  });
  EXPECT_EQ(chain.bad.load(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(chain.done.load(), chain.target);
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 200u);
}

TEST_P(AsyncCallback, CallbackOfAHandOverMayCallIn) {
  // The release that grants leads to the callback (on the releasing thread or the
  // library's); the callback uses the limiter.
  Lim lim = make(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  struct Ctx {
    ptl_limiter* lim;
    std::atomic<int> calls{0};
    std::atomic<int> stats_rc{1};
    std::atomic<int> release_rc{1};
  } ctx{lim};
  ASSERT_EQ(ptl_acquire_async(
                lim, 1, -1,
                [](void* u, int status, ptl_permit p) {
                  auto* c = static_cast<Ctx*>(u);
                  ptl_limiter_stats s{};
                  s.struct_size = sizeof s;
                  c->stats_rc = ptl_limiter_stats_get(c->lim, &s);
                  if (status == PTL_OK) c->release_rc = ptl_release(c->lim, p);
                  c->calls++;
                },
                &ctx, nullptr),
            PTL_OK);
  run_or_die("release that runs a re-entrant callback",
             [&] { EXPECT_EQ(ptl_release(lim, held), PTL_OK); });
  ASSERT_TRUE(wait_until([&] { return ctx.calls.load() == 1; }));
  EXPECT_EQ(ctx.stats_rc.load(), PTL_OK);
  EXPECT_EQ(ctx.release_rc.load(), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST_P(AsyncCallback, CancelRacingWithGrantCompletesExactlyOnce) {
  // Cancel and release race: each request completes once, either ECANCELED (cancel
  // returned OK) or OK with a permit (cancel returned ENOTFOUND); nothing leaks.
  Lim lim = make(make_cfg(1));
  for (int round = 0; round < 300; ++round) {
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
    Req r;
    uint64_t ticket = 0;
    ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
    std::atomic<int> cancel_rc{1};
    std::thread canceller([&] { cancel_rc = ptl_cancel(lim, ticket); });
    ASSERT_EQ(ptl_release(lim, held), PTL_OK);
    canceller.join();
    ASSERT_TRUE(r.wait());
    std::this_thread::yield();
    ASSERT_EQ(r.calls.load(), 1) << "round " << round;
    if (cancel_rc == PTL_OK) {
      ASSERT_EQ(r.status.load(), PTL_ECANCELED) << "round " << round;
    } else {
      ASSERT_EQ(cancel_rc.load(), PTL_ENOTFOUND) << "round " << round;
      ASSERT_EQ(r.status.load(), PTL_OK) << "round " << round;
      ASSERT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
    }
    const ptl_limiter_stats s = stats_of(lim);
    ASSERT_EQ(s.in_flight, 0u) << "round " << round;
    ASSERT_EQ(s.waiting, 0u) << "round " << round;
  }
}

TEST_P(AsyncCallback, AsyncAndSyncWaitersOfSeveralRegistriesShareOneFifoLine) {
  Lim lim = make(make_cfg(1), "fifo");
  Lim other_handle = get(peer(), "fifo");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  std::mutex mu;
  std::vector<int> order;
  struct AsyncCtx {
    ptl_limiter* lim;
    int tag;
    std::mutex* mu;
    std::vector<int>* order;
  };
  std::vector<std::unique_ptr<AsyncCtx>> ctxs;
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    ptl_limiter* h = (k % 4 < 2) ? lim.get() : other_handle.get();
    if (k % 2 == 0) {
      threads.emplace_back([&, h, k] {
        ptl_permit p = 0;
        ASSERT_EQ(ptl_acquire(h, 20 * kSec, &p), PTL_OK);
        {
          std::lock_guard<std::mutex> lock(mu);
          order.push_back(k);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the line stays busy
        EXPECT_EQ(ptl_release(h, p), PTL_OK);
      });
    } else {
      ctxs.push_back(std::make_unique<AsyncCtx>(AsyncCtx{h, k, &mu, &order}));
      ASSERT_EQ(ptl_acquire_async(
                    h, 1, -1,
                    [](void* u, int status, ptl_permit p) {
                      auto* c = static_cast<AsyncCtx*>(u);
                      EXPECT_EQ(status, PTL_OK);
                      {
                        std::lock_guard<std::mutex> lock(*c->mu);
                        c->order->push_back(c->tag);
                      }
                      EXPECT_EQ(ptl_release(c->lim, p), PTL_OK);
                    },
                    ctxs.back().get(), nullptr),
                PTL_OK);
    }
    ASSERT_TRUE(wait_waiting(lim, static_cast<uint32_t>(k + 1))) << "waiter " << k;
  }
  // try-acquire does not jump the line, even at the moment the permit is handed over.
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  ptl_permit p = 0;
  if (ptl_try_acquire(other_handle, &p, nullptr) == PTL_OK) {
    EXPECT_EQ(ptl_release(other_handle, p), PTL_OK);
    ADD_FAILURE() << "try-acquire was granted while eight waited";
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mu);
    return order.size() == 8;
  }));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  // The last callback releases after recording.
  EXPECT_TRUE(wait_until([&] { return stats_of(lim).in_flight == 0; }));
}

TEST_P(AsyncCallback, ManyWaitersOfSeveralRegistriesEachServedOnce) {
  // 200 async waiters on a 3-permit limiter, through two registries; each permit is
  // released as it arrives: all are served, each exactly once, never more than 3 at once.
  Lim la = make(make_cfg(3), "many");
  Lim lb = get(peer(), "many");
  constexpr int kN = 200;
  std::vector<std::unique_ptr<Req>> reqs;
  for (int i = 0; i < kN; ++i) {
    reqs.push_back(std::make_unique<Req>());
    ASSERT_EQ(reqs.back()->start(i % 2 ? la : lb, 1, 60 * kSec, nullptr), PTL_OK)
        << ptl_last_error();
  }
  int served = 0;
  std::vector<bool> done(kN, false);
  const int64_t end = mono_ns() + 60 * kSec;
  while (served < kN && mono_ns() < end) {
    for (int i = 0; i < kN; ++i) {
      if (done[i] || reqs[i]->calls.load() == 0) continue;
      ASSERT_EQ(reqs[i]->status.load(), PTL_OK) << ptl_status_name(reqs[i]->status.load());
      EXPECT_LE(stats_of(la).in_flight, 3u);
      ASSERT_EQ(ptl_release(i % 2 ? la : lb, reqs[i]->permit.load()), PTL_OK);
      done[i] = true;
      ++served;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_EQ(served, kN);
  for (const auto& r : reqs) EXPECT_EQ(r->calls.load(), 1);
  const ptl_limiter_stats s = stats_of(la);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, static_cast<uint64_t>(kN));
}

}  // namespace
}  // namespace ptl_test
