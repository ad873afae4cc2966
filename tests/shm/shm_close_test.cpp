// SPDX-License-Identifier: MIT
// Closing: every ptl_registry_close and last ptl_limiter_unref returns, whoever closes
// last (the test thread, a thread that was waiting, an async callback on the agent
// thread), with waiters and async acquires still pending; and nothing is lost on the way.
#include <future>
#include <thread>

#include "async_util.hpp"
#include "shm_util.hpp"

namespace ptl_test {
namespace {

// An async acquire whose callback releases its permit and drops its own handle: the
// last one of the process, so the agent detaches right after the callback.
struct LastHandleCallback {
  ptl_limiter* lim = nullptr;
  std::atomic<int> status{1};
  std::promise<void> done;

  static void cb(void* u, int status, ptl_permit permit) {
    auto* self = static_cast<LastHandleCallback*>(u);
    if (status == PTL_OK) ptl_release(self->lim, permit);
    ptl_limiter_unref(self->lim);
    self->status = status;
    self->done.set_value();  // last: the test may free *self from here on
  }
};

// One cycle on the segment of `uri`; adds the grants it made to *granted.
void cycle(const std::string& uri, int variant, uint64_t* granted) {
  ptl_registry* reg = nullptr;
  ASSERT_EQ(ptl_registry_open(uri.c_str(), &reg), PTL_OK) << ptl_last_error();
  const ptl_limiter_config cfg = make_cfg(1, 1000000, 86400.0);  // a window the test stays in
  Lim lim;
  ASSERT_EQ(ptl_registry_get_or_create(reg, "loop", &cfg, lim.out()), PTL_OK) << ptl_last_error();
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, -1, &p), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  ++*granted;
  if (variant == 0) {
    ptl_registry_close(reg);
    return;  // the limiter handle is the last to go
  }

  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &held), PTL_OK) << ptl_last_error();
  ++*granted;
  Lim other;
  ASSERT_EQ(ptl_registry_get(reg, "loop", other.out()), PTL_OK);
  if (variant == 1) {
    // Async acquires pending when the handle that made them closes: ECLOSED, once each.
    Req a, b;
    ASSERT_EQ(a.start(other, 1, -1, nullptr), PTL_OK);
    ASSERT_EQ(b.start(other, 1, -1, nullptr), PTL_OK);
    ptl_limiter_unref(other.release());
    ptl_registry_close(reg);
    for (Req* r : {&a, &b}) {
      ASSERT_TRUE(r->wait());
      EXPECT_EQ(r->calls.load(), 1);
      EXPECT_EQ(r->status.load(), PTL_ECLOSED);
    }
    EXPECT_EQ(ptl_release(lim, held), PTL_OK);
    return;
  }
  if (variant == 2) {
    // A thread waits while the registry closes; the release lets it through, and its
    // handle goes last.
    std::atomic<int> rc{1};
    std::thread waiter([&, l = other.release()] {
      ptl_permit q = 0;
      rc = ptl_acquire(l, -1, &q);
      if (rc == PTL_OK) rc = ptl_release(l, q);
      ptl_limiter_unref(l);
    });
    ASSERT_TRUE(wait_waiting(lim, 1));
    ptl_registry_close(reg);
    EXPECT_EQ(ptl_release(lim, held), PTL_OK);
    ptl_limiter_unref(lim.release());
    waiter.join();
    EXPECT_EQ(rc.load(), PTL_OK) << ptl_status_name(rc.load());
    ++*granted;
    return;
  }
  // An async acquire pending while the registry and the test's handle close: its
  // callback, on the agent thread, holds the last handle of the process.
  LastHandleCallback last;
  last.lim = other.release();
  std::future<void> done = last.done.get_future();
  ASSERT_EQ(ptl_acquire_async(last.lim, 1, -1, &LastHandleCallback::cb, &last, nullptr), PTL_OK);
  ptl_registry_close(reg);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  ptl_limiter_unref(lim.release());
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(last.status.load(), PTL_OK);
  ++*granted;
}

TEST(ShmClose, OpenUseCloseCyclesAllReturnAndLoseNothing) {
  const std::string segment = unique_segment("ptl-close");
  remove_segment(segment);
  const std::string uri = "shm://" + segment;
  uint64_t granted = 0;
  for (int i = 0; i < 400 && !HasFatalFailure(); ++i) {
    run_or_die("an open/use/close cycle of shm://", [&] { cycle(uri, i % 4, &granted); });
  }
  ShmOpen reg(uri);
  const ptl_limiter_stats s = reg_stats(reg, "loop");
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, granted);
  EXPECT_EQ(s.current_window_count, granted);
  remove_segment(segment);
}

}  // namespace
}  // namespace ptl_test
