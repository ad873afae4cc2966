// ptl_acquire_async and ptl_cancel: exactly-once callbacks, inline grants, cancel,
// timeouts, and completion with PTL_ECLOSED when the last reference goes.
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// One async request: counts callbacks and remembers the outcome.
struct Req {
  std::atomic<int> calls{0};
  std::atomic<int> status{1};
  std::atomic<ptl_permit> permit{0};
  std::atomic<int64_t> t_cb{0};
  std::thread::id cb_thread;
  std::atomic<bool> returned{false};  // set by the test right after ptl_acquire_async
  std::atomic<bool> ran_before_return{false};

  static void cb(void* u, int status, ptl_permit p) {
    auto* r = static_cast<Req*>(u);
    r->t_cb = mono_ns();
    r->cb_thread = std::this_thread::get_id();
    r->status = status;
    r->permit = p;
    if (!r->returned) r->ran_before_return = true;
    r->calls.fetch_add(1);
  }
  int start(ptl_limiter* lim, uint64_t cost, int64_t timeout, uint64_t* ticket) {
    int rc = ptl_acquire_async(lim, cost, timeout, &Req::cb, this, ticket);
    returned = true;
    return rc;
  }
  bool wait(int64_t timeout_ns = 10 * kSec) {
    return wait_until([this] { return calls.load() > 0; }, timeout_ns);
  }
};

TEST(CapiAsync, ImmediateGrantRunsInlineExactlyOnce) {
  for (uint64_t per_window : {uint64_t{0}, uint64_t{10}}) {
    Lim lim = create_limiter(make_cfg(2, per_window, 10.0));
    Req r;
    uint64_t ticket = 0;
    ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK) << ptl_last_error();
    EXPECT_EQ(r.calls.load(), 1) << "an immediate grant did not run inline";
    EXPECT_TRUE(r.ran_before_return.load());
    EXPECT_EQ(r.cb_thread, std::this_thread::get_id());
    EXPECT_EQ(r.status.load(), PTL_OK);
    EXPECT_NE(r.permit.load(), 0u);
    EXPECT_EQ(stats_of(lim).in_flight, 1u);
    EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND) << "cancel of a completed ticket";
    EXPECT_EQ(r.calls.load(), 1);
    EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(r.calls.load(), 1);
  }
}

TEST(CapiAsync, GrantedOnReleaseExactlyOnce) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
  EXPECT_EQ(r.calls.load(), 0);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 1u);
  EXPECT_EQ(s.in_flight, 1u);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  ASSERT_TRUE(r.wait());
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_NE(r.permit.load(), 0u);
  EXPECT_NE(r.permit.load(), held) << "a released permit value was reused at once";
  s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(r.calls.load(), 1);
}

TEST(CapiAsync, WindowBlockedGrantComesFromTheTimer) {
  Lim lim = create_limiter(make_cfg(5, 1, 0.1));
  ptl_permit p = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  Req r;
  ASSERT_EQ(r.start(lim, 1, -1, nullptr), PTL_OK);
  ASSERT_TRUE(r.wait(5 * kSec)) << "nobody granted an async waiter when the window slid";
  EXPECT_EQ(r.status.load(), PTL_OK);
  EXPECT_GE(r.t_cb.load(), t0 + 100 * kMs) << "granted inside the window";
  EXPECT_EQ(ptl_release(lim, r.permit.load()), PTL_OK);
}

TEST(CapiAsync, CancelRunsCallbackWithEcanceledBeforeReturning) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  ASSERT_EQ(r.start(lim, 1, -1, &ticket), PTL_OK);
  ASSERT_EQ(r.calls.load(), 0);
  ASSERT_EQ(ptl_cancel(lim, ticket), PTL_OK);
  EXPECT_EQ(r.calls.load(), 1) << "the callback had not run when ptl_cancel returned";
  EXPECT_EQ(r.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_cancelled, 1u);
  // The cancelled request gets nothing later.
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiAsync, CancelUnknownTickets) {
  Lim lim = create_limiter(make_cfg(1));
  EXPECT_EQ(ptl_cancel(lim, 12345678), PTL_ENOTFOUND);
  EXPECT_EQ(ptl_cancel(lim, UINT64_MAX), PTL_ENOTFOUND);
  int rc = ptl_cancel(lim, 0);
  EXPECT_TRUE(rc == PTL_ENOTFOUND || rc == PTL_EINVAL) << ptl_status_name(rc);
}

TEST(CapiAsync, CancelThroughAnotherLimiterDoesNothing) {
  Lim a = create_limiter(make_cfg(1));
  Lim b = create_limiter(make_cfg(1));
  ptl_permit ha = 0, hb = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &ha), PTL_OK);
  ASSERT_EQ(ptl_acquire(b, 0, &hb), PTL_OK);
  Req ra, rb;
  uint64_t ta = 0, tb = 0;
  ASSERT_EQ(ra.start(a, 1, -1, &ta), PTL_OK);
  ASSERT_EQ(rb.start(b, 1, -1, &tb), PTL_OK);
  EXPECT_EQ(ptl_cancel(b, ta), ta == tb ? PTL_OK : PTL_ENOTFOUND);
  if (ta != tb) {
    EXPECT_EQ(ra.calls.load(), 0) << "cancelled a waiter of another limiter";
    EXPECT_EQ(rb.calls.load(), 0);
    EXPECT_EQ(stats_of(a).waiting, 1u);
    EXPECT_EQ(stats_of(b).waiting, 1u);
  }
  ASSERT_EQ(ptl_cancel(a, ta), PTL_OK);
  ASSERT_EQ(ptl_cancel(b, tb), PTL_OK);
  EXPECT_EQ(ra.status.load(), PTL_ECANCELED);
  EXPECT_EQ(rb.status.load(), PTL_ECANCELED);
  EXPECT_EQ(ptl_release(a, ha), PTL_OK);
  EXPECT_EQ(ptl_release(b, hb), PTL_OK);
}

TEST(CapiAsync, TimeoutCompletesWithEtimedout) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  uint64_t ticket = 0;
  const int64_t t0 = mono_ns();
  ASSERT_EQ(r.start(lim, 1, 50 * kMs, &ticket), PTL_OK);
  ASSERT_TRUE(r.wait(10 * kSec)) << "an async timeout never fired";
  EXPECT_EQ(r.status.load(), PTL_ETIMEDOUT);
  EXPECT_GE(r.t_cb.load(), t0 + 50 * kMs) << "timed out early";
  EXPECT_EQ(ptl_cancel(lim, ticket), PTL_ENOTFOUND);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.total_timeouts, 1u);
  EXPECT_EQ(s.waiting, 0u);
  ASSERT_EQ(ptl_release(lim, held), PTL_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(r.calls.load(), 1);
  EXPECT_EQ(stats_of(lim).in_flight, 0u) << "a timed-out async acquire was granted later";
}

TEST(CapiAsync, TimeoutZeroWithoutRoomReportsEagainOnce) {
  Lim lim = create_limiter(make_cfg(1));
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
  Req r;
  int rc = r.start(lim, 1, 0, nullptr);
  if (rc == PTL_OK) {
    ASSERT_TRUE(r.wait());
    EXPECT_EQ(r.status.load(), PTL_EAGAIN);
  } else {
    EXPECT_EQ(rc, PTL_EAGAIN);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r.calls.load(), 0) << "callback ran although the call returned an error";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LE(r.calls.load(), 1);
  EXPECT_EQ(stats_of(lim).waiting, 0u);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  EXPECT_EQ(stats_of(lim).in_flight, 0u);
}

TEST(CapiAsync, LastUnrefCompletesPendingWithEclosed) {
  // Blocked by concurrency, infinite timeout.
  {
    ptl_limiter* lim = nullptr;
    ptl_limiter_config cfg = make_cfg(1);
    ASSERT_EQ(ptl_limiter_create(&cfg, &lim), PTL_OK);
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);
    Req r1, r2;
    ASSERT_EQ(r1.start(lim, 1, -1, nullptr), PTL_OK);
    ASSERT_EQ(r2.start(lim, 1, -1, nullptr), PTL_OK);
    ptl_limiter_unref(lim);
    ASSERT_TRUE(r1.wait(5 * kSec)) << "pending async acquire not completed by the last unref";
    ASSERT_TRUE(r2.wait(5 * kSec));
    EXPECT_EQ(r1.status.load(), PTL_ECLOSED);
    EXPECT_EQ(r2.status.load(), PTL_ECLOSED);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r1.calls.load(), 1);
    EXPECT_EQ(r2.calls.load(), 1);
  }
}

TEST(CapiAsync, LastUnrefCompletesTimerBoundWaitersWithEclosed) {
  // Waiters that the library's timer is tracking (a finite timeout; a window or a
  // penalty to wait out) are completed with ECLOSED too, not left to time out later.
  struct Case {
    const char* what;
    ptl_limiter_config cfg;
    bool fill_window;
    int64_t penalty;
    int64_t timeout;
  };
  const Case cases[] = {
      {"finite timeout", make_cfg(1), false, 0, 2 * kSec},
      {"window", make_cfg(5, 1, 2.0), true, 0, -1},
      {"penalty", make_cfg(5), false, 2 * kSec, -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ptl_limiter* lim = nullptr;
    ASSERT_EQ(ptl_limiter_create(&c.cfg, &lim), PTL_OK);
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK);  // held forever in the first case
    if (c.fill_window) {
      ASSERT_EQ(ptl_release(lim, held), PTL_OK);
    }
    if (c.penalty) {
      ASSERT_EQ(ptl_release(lim, held), PTL_OK);
      ASSERT_EQ(ptl_limiter_penalize(lim, c.penalty), PTL_OK);
    }
    // On the heap: if the library calls back late, the request must still exist.
    Req* r = new Req;
    ASSERT_EQ(r->start(lim, 1, c.timeout, nullptr), PTL_OK);
    EXPECT_EQ(r->calls.load(), 0);
    ptl_limiter_unref(lim);
    const bool completed = r->wait(1500 * kMs);
    EXPECT_TRUE(completed) << "pending async acquire not completed (within 1.5 s) after the "
                              "last unref";
    if (completed) {
      EXPECT_EQ(r->status.load(), PTL_ECLOSED) << ptl_status_name(r->status.load());
    } else if (r->wait(5 * kSec)) {
      ADD_FAILURE() << "it completed later, with " << ptl_status_name(r->status.load());
    }
    if (r->calls.load() > 0) delete r;  // else leaked on purpose: a late callback finds it
  }
}

TEST(CapiAsync, RegistryDroppingTheLastReferenceClosesPendingWaiters) {
  // The registry holds a reference; once the user's handles are gone, remove, reset and
  // close each drop the last one, which completes pending async acquires with ECLOSED.
  for (const char* how : {"remove", "reset", "close"}) {
    SCOPED_TRACE(how);
    ptl_registry* reg = nullptr;
    ASSERT_EQ(ptl_registry_open("local:", &reg), PTL_OK);
    ptl_limiter_config cfg = make_cfg(1);
    ASSERT_EQ(ptl_registry_register(reg, "x", &cfg, 0), PTL_OK);
    ptl_limiter* h = nullptr;
    ASSERT_EQ(ptl_registry_get(reg, "x", &h), PTL_OK);
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(h, 0, &held), PTL_OK);
    Req* r = new Req;
    ASSERT_EQ(r->start(h, 1, -1, nullptr), PTL_OK);
    ptl_limiter_unref(h);  // the registry's reference keeps it open
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(r->calls.load(), 0) << "closed while the registry still held it";
    const std::string mode = how;
    if (mode == "remove") {
      ASSERT_EQ(ptl_registry_remove(reg, "x"), PTL_OK);
    } else if (mode == "reset") {
      ASSERT_EQ(ptl_registry_reset(reg), PTL_OK);
    }
    if (mode != "close") {
      EXPECT_TRUE(r->wait(2 * kSec)) << "last reference dropped by the registry: no completion";
    }
    ptl_registry_close(reg);
    EXPECT_TRUE(r->wait(2 * kSec)) << "no completion after the registry closed";
    EXPECT_EQ(r->status.load(), PTL_ECLOSED) << ptl_status_name(r->status.load());
    if (r->calls.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      EXPECT_EQ(r->calls.load(), 1);
      delete r;
    }
  }
}

TEST(CapiAsync, UnrefRacingWithATimerGrantCompletesExactlyOnce) {
  // The window frees at ~2 ms while the last reference is dropped at a random moment
  // around it: the waiter completes exactly once, with OK or ECLOSED.
  std::mt19937 rng(7);
  int ok = 0, closed = 0;
  for (int round = 0; round < 150; ++round) {
    ptl_limiter* lim = nullptr;
    ptl_limiter_config cfg = make_cfg(5, 1, 0.002);
    ASSERT_EQ(ptl_limiter_create(&cfg, &lim), PTL_OK);
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
    Req* r = new Req;
    ASSERT_EQ(r->start(lim, 1, (round % 2) ? -1 : 50 * kMs, nullptr), PTL_OK);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4000));
    ptl_limiter_unref(lim);
    ASSERT_TRUE(r->wait(5 * kSec)) << "round " << round;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(r->calls.load(), 1) << "round " << round;
    const int st = r->status.load();
    ASSERT_TRUE(st == PTL_OK || st == PTL_ECLOSED) << ptl_status_name(st);
    (st == PTL_OK ? ok : closed)++;
    delete r;
  }
  EXPECT_EQ(ok + closed, 150);
}

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
