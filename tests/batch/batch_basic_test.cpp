// SPDX-License-Identifier: MIT
// The blocking style's everyday promises: results land by index, limits hold and are
// used, items are granted in index order.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "batch_util.hpp"

namespace {

using ptl_test::batch_options;
using ptl_test::empty_report;

TEST(BatchRun, EmptyBatchSucceedsWithoutCallingTheItem) {
  ptl_batch_options o = batch_options(3);
  ptl_batch_report r = empty_report();
  auto fn = [](void*, ptl_batch*, size_t, uint32_t, int64_t*) -> int {
    ADD_FAILURE() << "item function called for an empty batch";
    return PTL_OK;
  };
  EXPECT_EQ(ptl_batch_run(&o, 0, fn, nullptr, nullptr, &r), PTL_OK);
  EXPECT_EQ(r.items, 0u);
  EXPECT_EQ(r.attempts, 0u);
}

struct Squares {
  std::vector<uint64_t> out;
  std::vector<int64_t> sleep_us;
  std::thread::id caller;
  std::atomic<int> on_caller_thread{0};
};

TEST(BatchRun, ResultsLandInInputOrderWhateverTheFinishingOrder) {
  Squares s;
  const size_t n = 200;
  s.out.assign(n, 0);
  std::mt19937 rng(7);
  for (size_t i = 0; i < n; ++i) s.sleep_us.push_back(std::uniform_int_distribution<>(0, 400)(rng));
  s.caller = std::this_thread::get_id();
  ptl_batch_options o = batch_options(8);
  std::vector<int> statuses(n, 12345);
  ptl_batch_report r = empty_report();
  auto fn = [](void* u, ptl_batch*, size_t i, uint32_t attempt, int64_t*) -> int {
    auto* st = static_cast<Squares*>(u);
    if (std::this_thread::get_id() == st->caller) st->on_caller_thread++;
    EXPECT_EQ(attempt, 1u);
    ptl_test::sleep_us(st->sleep_us[i]);
    st->out[i] = i * i;
    return PTL_OK;
  };
  ASSERT_EQ(ptl_batch_run(&o, n, fn, &s, statuses.data(), &r), PTL_OK) << ptl_last_error();
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(s.out[i], i * i) << i;
    EXPECT_EQ(statuses[i], PTL_OK) << i;
  }
  EXPECT_EQ(s.on_caller_thread.load(), 0) << "blocking items run on library workers";
  EXPECT_EQ(r.items, n);
  EXPECT_EQ(r.succeeded, n);
  EXPECT_EQ(r.failed + r.canceled + r.pending + r.retries, 0u);
  EXPECT_EQ(r.attempts, n);
  EXPECT_EQ(r.concurrency, 8u);
}

struct Witness {
  ptl_test::InFlight in_flight;
  int64_t call_us = 1000;
};

int witnessed_call(void* u, ptl_batch*, size_t, uint32_t, int64_t*) {
  auto* w = static_cast<Witness*>(u);
  w->in_flight.enter();
  ptl_test::sleep_us(w->call_us);
  w->in_flight.leave();
  return PTL_OK;
}

TEST(BatchRun, NeverMoreThanMaxConcurrentAndUsesAllOfIt) {
  Witness w;
  ptl_batch_options o = batch_options(4);
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_run(&o, 64, witnessed_call, &w, nullptr, &r), PTL_OK);
  EXPECT_EQ(w.in_flight.peak(), 4);
  EXPECT_LE(r.peak_in_flight, 4u);
  EXPECT_GE(r.peak_in_flight, static_cast<uint32_t>(w.in_flight.peak()));
}

TEST(BatchRun, FewerWorkersThanTheLimitAreRefused) {
  // Granted items would wait in the worker queue holding window slots, then start in a
  // bunch: the upstream would see more at once than the window allows.
  Witness w;
  ptl_batch_options o = batch_options(6);
  o.worker_threads = 2;
  EXPECT_EQ(ptl_batch_run(&o, 30, witnessed_call, &w, nullptr, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("worker_threads"), std::string::npos);
  EXPECT_EQ(w.in_flight.peak(), 0);
  o.worker_threads = 6;
  EXPECT_EQ(ptl_batch_run(&o, 30, witnessed_call, &w, nullptr, nullptr), PTL_OK);
  EXPECT_LE(w.in_flight.peak(), 6);
}

struct Windowed {
  ptl_test::GrantObserver observer{256};
};

TEST(BatchRun, SlidingWindowHoldsForEveryAttempt) {
  Windowed w;
  const double window_s = 0.3;
  ptl_batch_options o = batch_options(8, 20, window_s);
  auto fn = [](void* u, ptl_batch*, size_t, uint32_t, int64_t*) -> int {
    auto* st = static_cast<Windowed*>(u);
    st->observer.on_grant(ptl_test::mono_ns());
    ptl_test::sleep_us(500);
    st->observer.on_release();
    return PTL_OK;
  };
  ASSERT_EQ(ptl_batch_run(&o, 50, fn, &w, nullptr, nullptr), PTL_OK);
  ASSERT_EQ(w.observer.grants(), 50u);
  const int64_t window_ns = static_cast<int64_t>(window_s * 1e9);
  EXPECT_EQ(w.observer.check(8, 20, 0, window_ns, 15'000'000), "");
  // 50 grants at 20 per window: the 41st cannot come before two windows have passed.
  const auto recs = w.observer.records();
  int64_t first = recs.front().t_after, last = recs.front().t_after;
  for (const auto& rec : recs) {
    first = std::min(first, rec.t_after);
    last = std::max(last, rec.t_after);
  }
  EXPECT_GE(last - first, 2 * window_ns - 15'000'000);
}

struct Order {
  std::mutex mu;
  std::vector<size_t> started;
};

TEST(BatchRun, ItemsAreGrantedInIndexOrder) {
  Order ord;
  ptl_batch_options o = batch_options(1);
  auto fn = [](void* u, ptl_batch*, size_t i, uint32_t, int64_t*) -> int {
    auto* st = static_cast<Order*>(u);
    std::lock_guard<std::mutex> lock(st->mu);
    st->started.push_back(i);
    return PTL_OK;
  };
  ASSERT_EQ(ptl_batch_run(&o, 40, fn, &ord, nullptr, nullptr), PTL_OK);
  ASSERT_EQ(ord.started.size(), 40u);
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(ord.started[i], i);
}

}  // namespace
