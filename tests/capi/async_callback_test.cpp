// ptl_acquire_async: callbacks that call back in, races with cancel, one FIFO queue with
// sync waiters.
#include <mutex>
#include <vector>

#include "async_util.hpp"
#include "capi_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiAsync, CallbacksMayReleaseAndAcquireAgain) {
  // A callback that releases its permit and starts the next acquire: a chain of 200
  // async acquires on a one-permit limiter, each completed exactly once.
  Lim lim = create_limiter(make_cfg(1, 0, 1.0));
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
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.total_acquired, 200u);
}

TEST(CapiAsync, CallbackOnReleasingThreadMayCallIn) {
  // The release that grants runs the callback; the callback uses the limiter.
  Lim lim = create_limiter(make_cfg(1));
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

TEST(CapiAsync, CancelRacingWithGrantCompletesExactlyOnce) {
  // Cancel and release race: each request completes once, either ECANCELED (cancel
  // returned OK) or OK with a permit (cancel returned ENOTFOUND); nothing leaks.
  Lim lim = create_limiter(make_cfg(1));
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
    ptl_limiter_stats s = stats_of(lim);
    ASSERT_EQ(s.in_flight, 0u) << "round " << round;
    ASSERT_EQ(s.waiting, 0u) << "round " << round;
  }
}

TEST(CapiAsync, AsyncAndSyncWaitersShareOneFifoQueue) {
  Lim lim = create_limiter(make_cfg(1));
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
    if (k % 2 == 0) {
      threads.emplace_back([&, k] {
        ptl_permit p = 0;
        ASSERT_EQ(ptl_acquire(lim, 20 * kSec, &p), PTL_OK);
        {
          std::lock_guard<std::mutex> lock(mu);
          order.push_back(k);
        }
        EXPECT_EQ(ptl_release(lim, p), PTL_OK);
      });
    } else {
      ctxs.push_back(std::make_unique<AsyncCtx>(AsyncCtx{lim, k, &mu, &order}));
      ASSERT_EQ(ptl_acquire_async(
                    lim, 1, -1,
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
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mu);
    return order.size() == 8;
  }));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

}  // namespace
}  // namespace ptl_test
