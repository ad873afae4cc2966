// SPDX-License-Identifier: MIT
// The completion style: items started by callback and reported done later, from an
// event-loop thread or inline; cancel, free while running, wait.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "batch_util.hpp"

namespace {

using ptl_test::batch_options;
using ptl_test::empty_report;

// A one-thread "event loop": start callbacks hand it work, it completes items.
struct Loop {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<size_t> started;
  std::vector<size_t> start_order;
  std::atomic<int> done_calls{0};
  ptl_test::InFlight in_flight;

  static void start(void* u, ptl_batch*, size_t index, uint32_t) {
    auto* l = static_cast<Loop*>(u);
    l->in_flight.enter();
    std::lock_guard<std::mutex> lock(l->mu);
    l->started.push_back(index);
    l->start_order.push_back(index);
    l->cv.notify_one();
  }
  static void done(void* u, ptl_batch*) { static_cast<Loop*>(u)->done_calls++; }

  // Completes `count` items, oldest first, each with status(index).
  template <typename StatusOf>
  void serve(ptl_batch* b, size_t count, StatusOf status) {
    for (size_t k = 0; k < count; ++k) {
      size_t index;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return !started.empty(); });
        index = started.front();
        started.pop_front();
      }
      ptl_test::sleep_us(100);
      in_flight.leave();
      ASSERT_EQ(ptl_batch_complete(b, index, status(index), -1), PTL_OK) << ptl_last_error();
    }
  }
};

TEST(BatchCompletion, AnEventLoopDrivesTheBatchWithoutAThreadPerItem) {
  Loop loop;
  ptl_batch_options o = batch_options(3);
  ptl_batch* b = nullptr;
  ASSERT_EQ(ptl_batch_start(&o, 50, Loop::start, Loop::done, &loop, &b), PTL_OK);
  std::thread server([&] { loop.serve(b, 50, [](size_t i) { return i == 7 ? 500 : PTL_OK; }); });
  EXPECT_EQ(ptl_batch_wait(b, -1), PTL_OK);
  server.join();
  std::vector<int> statuses(50);
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_report_get(b, &r, statuses.data(), 50), PTL_OK);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(statuses[i], i == 7 ? 500 : PTL_OK);
  EXPECT_EQ(r.succeeded, 49u);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(r.pending, 0u);
  EXPECT_LE(loop.in_flight.peak(), 3);
  EXPECT_EQ(loop.done_calls.load(), 1);
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(loop.start_order[i], i) << "granted in index order";
  ptl_batch_free(b);
}

TEST(BatchCompletion, CompletingInlineFromTheStartCallbackDoesNotRecurse) {
  struct Inline {
    size_t started = 0;
    static void start(void* u, ptl_batch* b, size_t index, uint32_t) {
      static_cast<Inline*>(u)->started++;
      EXPECT_EQ(ptl_batch_complete(b, index, PTL_OK, -1), PTL_OK);
    }
  } in;
  ptl_batch_options o = batch_options(1);
  ptl_batch* b = nullptr;
  // 100k items each completing inside its own start: a recursive engine would need
  // 100k stack frames here.
  ASSERT_EQ(ptl_batch_start(&o, 100000, Inline::start, nullptr, &in, &b), PTL_OK);
  EXPECT_EQ(ptl_batch_wait(b, 0), PTL_OK) << "all done before ptl_batch_start returned";
  EXPECT_EQ(in.started, 100000u);
  ptl_batch_free(b);
}

// Completions racing from several threads while the limit is full: a permit given back
// must always reach the next item (a lost hand-over leaves the batch stuck, and wait()
// times out), never more than the limit run at once, and first attempts start in index
// order. Every third item fails its first attempt, so retries go back through the queue.
struct Racing {
  static constexpr size_t kThreads = 4;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<size_t> started;
  std::vector<size_t> first_starts;
  std::vector<uint32_t> attempts;
  ptl_test::InFlight in_flight;
  bool stop = false;

  explicit Racing(size_t n) : attempts(n, 0) {}

  static void start(void* u, ptl_batch*, size_t index, uint32_t attempt) {
    auto* r = static_cast<Racing*>(u);
    r->in_flight.enter();
    std::lock_guard<std::mutex> lock(r->mu);
    if (attempt == 1) r->first_starts.push_back(index);
    r->attempts[index] = attempt;
    r->started.push_back(index);
    r->cv.notify_one();
  }
  void serve(ptl_batch* b) {
    for (;;) {
      size_t index;
      uint32_t attempt;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [this] { return stop || !started.empty(); });
        if (started.empty()) return;
        index = started.front();
        started.pop_front();
        attempt = attempts[index];
      }
      in_flight.leave();
      const int status = index % 3 == 0 && attempt == 1 ? 500 : PTL_OK;
      ASSERT_EQ(ptl_batch_complete(b, index, status, -1), PTL_OK) << ptl_last_error();
    }
  }
};

TEST(BatchCompletion, PermitsGivenBackFromManyThreadsAlwaysReachTheNextItem) {
  for (uint32_t limit : {1u, 3u}) {
    const size_t n = 20000;
    Racing racing(n);
    ptl_batch_options o = batch_options(limit);
    o.max_attempts = 2;
    ptl_batch* b = nullptr;
    ASSERT_EQ(ptl_batch_start(&o, n, Racing::start, nullptr, &racing, &b), PTL_OK);
    std::vector<std::thread> servers;
    for (size_t t = 0; t < Racing::kThreads; ++t) servers.emplace_back([&] { racing.serve(b); });
    const int waited = ptl_batch_wait(b, 60'000'000'000);
    {
      std::lock_guard<std::mutex> lock(racing.mu);
      racing.stop = true;
    }
    racing.cv.notify_all();
    for (std::thread& t : servers) t.join();
    ASSERT_EQ(waited, PTL_OK) << "the batch stalled: a permit given back reached no item";
    ptl_batch_report r = empty_report();
    ASSERT_EQ(ptl_batch_report_get(b, &r, nullptr, 0), PTL_OK);
    EXPECT_EQ(r.succeeded, n);
    EXPECT_EQ(r.retries, (n + 2) / 3);
    EXPECT_LE(racing.in_flight.peak(), static_cast<int64_t>(limit));
    EXPECT_LE(r.peak_in_flight, limit);
    ASSERT_EQ(racing.first_starts.size(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(racing.first_starts[i], i) << "index order";
    ptl_batch_free(b);
  }
}

TEST(BatchCompletion, CompleteChecksTheItem) {
  Loop loop;
  ptl_batch_options o = batch_options(1);
  ptl_batch* b = nullptr;
  ASSERT_EQ(ptl_batch_start(&o, 3, Loop::start, nullptr, &loop, &b), PTL_OK);
  EXPECT_EQ(ptl_batch_complete(b, 3, PTL_OK, -1), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("out of range"), std::string::npos);
  EXPECT_EQ(ptl_batch_complete(b, 1, PTL_OK, -1), PTL_EINVAL) << "item 1 is not running";
  EXPECT_NE(std::string(ptl_last_error()).find("no attempt running"), std::string::npos);
  EXPECT_EQ(ptl_batch_signal(b, 2, -1), PTL_EINVAL);
  EXPECT_EQ(ptl_batch_wait(b, 1'000'000), PTL_ETIMEDOUT);
  EXPECT_EQ(ptl_batch_complete(b, 0, PTL_OK, -1), PTL_OK);
  EXPECT_EQ(ptl_batch_complete(b, 0, PTL_OK, -1), PTL_EINVAL) << "a second completion";
  int st[4];
  EXPECT_EQ(ptl_batch_report_get(b, nullptr, st, 4), PTL_EINVAL) << "more statuses than items";
  EXPECT_EQ(ptl_batch_report_get(b, nullptr, st, 3), PTL_OK);
  EXPECT_EQ(st[0], PTL_OK);
  EXPECT_EQ(st[1], PTL_EAGAIN) << "running: not settled";
  EXPECT_EQ(st[2], PTL_EAGAIN);
  ptl_batch_free(b);  // cancels item 2; item 1 is running: its completion stays valid
  EXPECT_EQ(ptl_batch_complete(b, 1, PTL_OK, -1), PTL_OK);
}

TEST(BatchCompletion, CancelSettlesWhatHasNotStarted) {
  Loop loop;
  ptl_batch_options o = batch_options(2);
  ptl_batch* b = nullptr;
  ASSERT_EQ(ptl_batch_start(&o, 10, Loop::start, Loop::done, &loop, &b), PTL_OK);
  EXPECT_EQ(ptl_batch_cancel(b), PTL_OK);
  EXPECT_EQ(loop.done_calls.load(), 0) << "two attempts still run";
  loop.serve(b, 2, [](size_t) { return 500; });  // failures, yet no retry after a cancel
  EXPECT_EQ(ptl_batch_wait(b, -1), PTL_OK);
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_report_get(b, &r, nullptr, 0), PTL_OK);
  EXPECT_EQ(r.canceled, 8u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.attempts, 2u);
  EXPECT_EQ(loop.done_calls.load(), 1);
  EXPECT_EQ(loop.start_order.size(), 2u);
  ptl_batch_free(b);
}

TEST(BatchCompletion, EmptyBatchCallsDoneOnce) {
  Loop loop;
  ptl_batch_options o = batch_options(2);
  ptl_batch* b = nullptr;
  ASSERT_EQ(ptl_batch_start(&o, 0, Loop::start, Loop::done, &loop, &b), PTL_OK);
  EXPECT_EQ(ptl_batch_wait(b, 0), PTL_OK);
  EXPECT_EQ(loop.done_calls.load(), 1);
  ptl_batch_free(b);
}

TEST(BatchCompletion, RetriesComeBackThroughTheStartCallback) {
  Loop loop;
  ptl_batch_options o = batch_options(2);
  o.max_attempts = 2;
  ptl_batch* b = nullptr;
  ASSERT_EQ(ptl_batch_start(&o, 4, Loop::start, nullptr, &loop, &b), PTL_OK);
  std::vector<int> calls(4, 0);
  loop.serve(b, 8, [&](size_t i) { return ++calls[i] == 1 ? 500 : PTL_OK; });
  EXPECT_EQ(ptl_batch_wait(b, -1), PTL_OK);
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_report_get(b, &r, nullptr, 0), PTL_OK);
  EXPECT_EQ(r.succeeded, 4u);
  EXPECT_EQ(r.retries, 4u);
  ptl_batch_free(b);
}

}  // namespace
