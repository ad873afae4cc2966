// SPDX-License-Identifier: MIT
// remove, reset and close on every backend, and what handles and waiters of a removed
// limiter see: local: keeps them working on the detached limiter (ADR 3), shm:// closes
// them (ADR 8), redis:// reports the name gone (ADR 9). Backend::removed_status says which.
#include <string>

#include "async_util.hpp"
#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Removal);

TEST_P(Removal, RemoveAndTheHandlesOfTheRemovedLimiter) {
  const ptl_limiter_config a = make_cfg(1);
  EXPECT_EQ(ptl_registry_exists(reg(), "r"), 0);
  Lim h = make(a, "r");
  EXPECT_EQ(ptl_registry_exists(reg(), "r"), 1);
  ptl_permit held = 0, p = 0;
  ASSERT_EQ(ptl_acquire(h, 0, &held), PTL_OK);

  EXPECT_EQ(ptl_registry_remove(reg(), "r"), PTL_OK);
  EXPECT_EQ(ptl_registry_exists(reg(), "r"), 0);
  EXPECT_EQ(ptl_registry_exists(peer(), "r"), 0);
  EXPECT_EQ(ptl_registry_remove(reg(), "r"), PTL_ENOTFOUND);
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_registry_get(reg(), "r", &out), PTL_ENOTFOUND);

  EXPECT_EQ(ptl_cancel(h, 12345), PTL_ENOTFOUND) << "a ticket the handle never had";
  const int gone = backend().removed_status;
  if (gone == PTL_OK) {  // the old handle keeps working on the removed limiter
    EXPECT_EQ(stats_of(h).in_flight, 1u);
    EXPECT_EQ(ptl_try_acquire(h, &p, nullptr), PTL_EAGAIN);
  } else {  // every call of the old handle says so, and names the limiter
    EXPECT_EQ(ptl_acquire(h, 0, &p), gone);
    EXPECT_TRUE(last_error_mentions("'r'")) << ptl_last_error();
    EXPECT_TRUE(last_error_mentions(backend().removed_message)) << ptl_last_error();
    EXPECT_EQ(ptl_try_acquire(h, &p, nullptr), gone);
    ptl_limiter_stats s{};
    s.struct_size = sizeof s;
    EXPECT_EQ(ptl_limiter_stats_get(h, &s), gone);
    EXPECT_EQ(ptl_limiter_penalize(h, kMs), gone);
    EXPECT_EQ(ptl_limiter_reconfigure(h, &a), gone);
  }

  // A new limiter of the same name is a different one: the old permit is not its own.
  Lim h2 = make(a, "r");
  EXPECT_EQ(stats_of(h2).in_flight, 0u);
  EXPECT_EQ(ptl_release(h2, held), PTL_EINVAL);
  ASSERT_EQ(ptl_acquire(h2, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_release(h2, p), PTL_OK);
  if (gone == PTL_OK) {
    EXPECT_EQ(ptl_release(h, held), PTL_OK);
    ASSERT_EQ(ptl_acquire(h, 0, &p), PTL_OK);
    EXPECT_EQ(ptl_release(h, p), PTL_OK);
    EXPECT_EQ(stats_of(h).total_acquired, 2u) << "the old handle reached the new limiter";
  } else if (backend().handle_follows_name) {
    EXPECT_EQ(stats_of(h).total_acquired, 1u) << "the old handle is bound to the name";
  } else {
    EXPECT_EQ(ptl_acquire(h, 0, &p), gone) << "the old handle came back to life";
    EXPECT_EQ(ptl_release(h, held), gone);
  }
}

TEST_P(Removal, WaitersOfARemovedLimiterAreKeptOrCompleted) {
  // Sync and async waiters, blocked by concurrency or by the window, of a limiter that is
  // removed (or reset away) while a handle of it is still held.
  for (const std::string how : {"remove", "reset"}) {
    SCOPED_TRACE(how);
    Lim c = make(make_cfg(1), "by-concurrency-" + how);
    Lim w = make(make_cfg(10, 1, 30.0), "by-window-" + how);
    ptl_permit held = 0, used = 0;
    ASSERT_EQ(ptl_acquire(c, 0, &held), PTL_OK);
    ASSERT_EQ(ptl_acquire(w, 0, &used), PTL_OK);
    ASSERT_EQ(ptl_release(w, used), PTL_OK);  // the window is full for 30 s
    Holder on_c(c), on_w(w);
    ASSERT_TRUE(wait_waiting(c, 1));
    ASSERT_TRUE(wait_waiting(w, 1));
    Req async_c, async_w;
    ASSERT_EQ(async_c.start(c, 1, -1, nullptr), PTL_OK);
    ASSERT_EQ(async_w.start(w, 1, 10 * kSec, nullptr), PTL_OK);
    if (how == "remove") {
      EXPECT_EQ(ptl_registry_remove(reg(), ("by-concurrency-" + how).c_str()), PTL_OK);
      EXPECT_EQ(ptl_registry_remove(reg(), ("by-window-" + how).c_str()), PTL_OK);
    } else {
      EXPECT_EQ(ptl_registry_reset(reg()), PTL_OK);
    }
    const int gone = backend().removed_status;
    if (gone != PTL_OK) {
      ASSERT_TRUE(on_c.wait_done(5 * kSec)) << "a waiter slept through the removal";
      ASSERT_TRUE(on_w.wait_done(5 * kSec)) << "a waiter slept through the removal";
      ASSERT_TRUE(async_c.wait(5 * kSec));
      ASSERT_TRUE(async_w.wait(5 * kSec));
      EXPECT_EQ(on_c.rc(), gone);
      EXPECT_EQ(on_w.rc(), gone);
      EXPECT_EQ(async_c.status.load(), gone);
      EXPECT_EQ(async_w.status.load(), gone);
      continue;
    }
    // The handles keep the removed limiters and their lines alive.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_FALSE(on_c.done());
    EXPECT_FALSE(on_w.done());
    EXPECT_EQ(async_c.calls.load() + async_w.calls.load(), 0);
    ASSERT_EQ(ptl_release(c, held), PTL_OK);  // -> on_c, then async_c
    const ptl_limiter_config no_window = make_cfg(10);
    ASSERT_EQ(ptl_limiter_reconfigure(w, &no_window), PTL_OK);  // -> both
    ASSERT_TRUE(on_c.wait_done());
    ASSERT_TRUE(on_w.wait_done());
    EXPECT_EQ(on_c.rc(), PTL_OK);
    EXPECT_EQ(on_w.rc(), PTL_OK);
    on_c.finish();
    ASSERT_TRUE(async_c.wait());
    ASSERT_TRUE(async_w.wait());
    EXPECT_EQ(async_c.status.load(), PTL_OK);
    EXPECT_EQ(async_w.status.load(), PTL_OK);
    EXPECT_EQ(ptl_release(c, async_c.permit.load()), PTL_OK);
    EXPECT_EQ(ptl_release(w, async_w.permit.load()), PTL_OK);
  }
}

TEST_P(Removal, ResetRemovesEverything) {
  const ptl_limiter_config a = make_cfg(2);
  for (const char* n : {"a", "b", "c"}) ASSERT_EQ(ptl_registry_register(reg(), n, &a, 0), PTL_OK);
  Lim hb = get(reg(), "b");
  ASSERT_EQ(ptl_registry_reset(reg()), PTL_OK) << ptl_last_error();
  for (const char* n : {"a", "b", "c"}) EXPECT_EQ(ptl_registry_exists(reg(), n), 0) << n;
  EXPECT_EQ(count_listed(reg()), 0);
  EXPECT_EQ(count_listed(peer()), 0);
  ptl_permit p = 0;
  const int rc = ptl_acquire(hb, 0, &p);
  EXPECT_EQ(rc, backend().removed_status) << ptl_status_name(rc);
  if (rc == PTL_OK) {
    EXPECT_EQ(ptl_release(hb, p), PTL_OK);
  }
  // Reset of an empty registry is fine; names can be registered again.
  EXPECT_EQ(ptl_registry_reset(reg()), PTL_OK);
  EXPECT_EQ(ptl_registry_register(reg(), "b", &a, 0), PTL_OK);
}

TEST_P(Removal, DroppedHandleKeepsOrCompletesItsPendingAcquires) {
  Lim keep = make(make_cfg(1), "held");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(keep, 0, &held), PTL_OK);
  ptl_registry* other_reg = peer();
  Lim mine = get(other_reg, "held");
  auto* r = new Req;  // on the heap: a late callback must still find it
  ASSERT_EQ(r->start(mine, 1, -1, nullptr), PTL_OK);
  ASSERT_TRUE(wait_waiting(keep, 1));
  ptl_limiter_unref(mine.release());
  if (backend().unref_completes_pending) {
    ASSERT_TRUE(r->wait(5 * kSec)) << "the last reference of the handle did not complete it";
    EXPECT_EQ(r->status.load(), PTL_ECLOSED);
    EXPECT_EQ(stats_of(keep).waiting, 0u) << "the closed waiter stayed in line";
    EXPECT_EQ(ptl_release(keep, held), PTL_OK);
  } else {  // the registry still holds the limiter: the waiter is served as usual
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(r->calls.load(), 0) << "completed while its registry still held the limiter";
    ASSERT_EQ(ptl_release(keep, held), PTL_OK);
    ASSERT_TRUE(r->wait(5 * kSec));
    EXPECT_EQ(r->status.load(), PTL_OK);
    EXPECT_EQ(ptl_release(get(other_reg, "held"), r->permit.load()), PTL_OK);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(r->calls.load(), 1);
  delete r;
}

TEST_P(Removal, PendingAcquiresDoNotOutliveTheLastReference) {
  // Once the user's handle is gone, remove, reset and close of the registry that holds
  // the limiter each drop its last reference, which completes its pending async acquires
  // exactly once.
  for (const std::string how : {"remove", "reset", "close"}) {
    SCOPED_TRACE(how);
    const std::string name = "x-" + how;
    ptl_registry* r = open_own();
    ASSERT_NE(r, nullptr);
    const ptl_limiter_config cfg = make_cfg(1);
    ASSERT_EQ(ptl_registry_register(r, name.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
    Lim h = get(r, name);
    ptl_permit held = 0;
    ASSERT_EQ(ptl_acquire(h, 0, &held), PTL_OK);
    auto* req = new Req;
    ASSERT_EQ(req->start(h, 1, -1, nullptr), PTL_OK);
    ptl_limiter_unref(h.release());
    if (!backend().unref_completes_pending) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      EXPECT_EQ(req->calls.load(), 0) << "closed while the registry still held it";
    }
    if (how == "remove") {
      ASSERT_EQ(ptl_registry_remove(r, name.c_str()), PTL_OK);
    } else if (how == "reset") {
      ASSERT_EQ(ptl_registry_reset(r), PTL_OK);
    }
    if (how != "close") {
      EXPECT_TRUE(req->wait(5 * kSec)) << "last reference dropped by the registry: no completion";
    }
    ptl_registry_close(r);
    EXPECT_TRUE(req->wait(5 * kSec)) << "no completion after the registry closed";
    // redis://: the removal may reach the waiter (PTL_ENOTFOUND) before the last reference
    // goes; local: keeps a removed limiter for its handles, shm:// closed it already.
    const int st = req->status.load(), gone = backend().removed_status;
    EXPECT_TRUE(st == PTL_ECLOSED || (how != "close" && gone != PTL_OK && st == gone))
        << ptl_status_name(st);
    if (how == "close" && backend().shared_uri) {
      EXPECT_EQ(reg_stats(reg(), name.c_str()).waiting, 0u) << "the closed waiter stayed in line";
    }
    if (req->calls.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      EXPECT_EQ(req->calls.load(), 1);
      delete req;  // else leaked on purpose: a late callback finds it
    }
  }
}

}  // namespace
}  // namespace ptl_test
