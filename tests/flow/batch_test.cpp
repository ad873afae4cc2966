// SPDX-License-Identifier: MIT
// ptl::Batch, the completion style in C++: attempts started by the library and completed
// from other threads, statuses and report, cancel, and a Batch destroyed while attempts run.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "flow_test_util.hpp"

namespace ptl_flow_test {
namespace {

using namespace std::chrono_literals;

// Two threads that complete the attempts handed to them, as an event loop would.
class Completer {
 public:
  using Job = std::function<void()>;
  Completer() {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Completer() {
    {
      const std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void push(Job job) {
    {
      const std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

TEST(CppBatch, AttemptsCompletedFromOtherThreadsSettleEveryItem) {
  Completer loop;
  InFlight in_flight;
  std::atomic<int> done_calls{0};
  ptl::BatchOptions o;
  o.limits.max_concurrent = 3;
  o.max_attempts = 2;
  ptl::Batch batch(
      o, 20,
      [&](ptl::BatchView b, std::size_t i, std::uint32_t attempt) {
        in_flight.enter();
        loop.push([&, b, i, attempt] {
          jitter(i, 500);
          in_flight.leave();
          // Item 4 fails for good; item 9 fails its first attempt only.
          const bool fail = i == 4 || (i == 9 && attempt == 1);
          b.complete(i, fail ? ptl::kStatusExecFailed : PTL_OK);
        });
      },
      [&] { ++done_calls; });
  batch.wait();
  EXPECT_TRUE(eventually([&] { return done_calls.load() == 1; }));
  EXPECT_LE(in_flight.peak(), 3);
  const std::vector<int> statuses = batch.statuses();
  for (std::size_t i = 0; i < 20; ++i)
    EXPECT_EQ(statuses[i], i == 4 ? ptl::kStatusExecFailed : PTL_OK) << i;
  const ptl::BatchStats r = batch.stats();
  EXPECT_EQ(r.succeeded, 19u);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(r.retries, 2u);  // item 4 once, item 9 once
  EXPECT_EQ(r.attempts, 22u);
}

TEST(CppBatch, ItemsAskTheirEstimateSettleTheirUsageAndPassHeaders) {
  // A shared policy of 300 tokens held at once: items estimating 100 + i tokens fit two at
  // a time whatever the batch's own concurrency of 6; each settles 50 + i afterwards.
  using namespace std::chrono_literals;
  ptl::Limiter shared =
      ptl::Limiter::create(ptl::Policy{{"tokens", 300}, {"tokens", 100000, 1min}});
  Completer loop;
  std::atomic<std::int64_t> held{0}, peak{0};
  std::atomic<std::uint64_t> used{0};
  std::atomic<int> applied{-1};
  ptl::BatchOptions o;
  o.limits.max_concurrent = 6;
  o.shared = shared;
  o.estimate = [](std::size_t i) { return std::vector<ptl::Amount>{{"tokens", 100 + i}}; };
  ptl::Batch batch(o, 24, [&](ptl::BatchView b, std::size_t i, std::uint32_t) {
    const auto estimate = static_cast<std::int64_t>(100 + i);
    const std::int64_t now = held.fetch_add(estimate) + estimate;
    std::int64_t p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    loop.push([&, b, i, estimate] {
      jitter(i, 300);
      held.fetch_sub(estimate);
      b.settle(i, {{"tokens", 50 + i}});
      used.fetch_add(50 + i);
      if (i == 0)
        applied = b.observe_headers(
            i, {{"x-ratelimit-remaining-tokens", "90000"}, {"x-ratelimit-reset-tokens", "30s"}});
      b.complete(i, PTL_OK);
    });
  });
  batch.wait();
  EXPECT_LE(peak.load(), 300) << "the estimates held at once exceeded the shared policy";
  EXPECT_EQ(shared.usage("tokens", 1min).used, used.load());
  EXPECT_EQ(applied.load(), 1);
  EXPECT_TRUE(shared.usage("tokens", 1min).observed_cap.has_value());
}

TEST(CppBatch, AStartThatThrowsFailsItsAttemptInsteadOfHangingTheBatch) {
  ptl::BatchOptions o;
  ptl::Batch batch(o, 3, [](ptl::BatchView b, std::size_t i, std::uint32_t) {
    if (i == 1) throw std::runtime_error("cannot start");
    b.complete(i, PTL_OK);  // completing inline, from inside the start, is allowed
  });
  ASSERT_TRUE(batch.wait_for(20s));
  EXPECT_EQ(batch.statuses(), (std::vector<int>{PTL_OK, ptl::kStatusExecFailed, PTL_OK}));
}

TEST(CppBatch, DestroyedWhileAttemptsRunItCancelsTheRestAndStillTakesTheirEnds) {
  std::vector<std::pair<ptl::BatchView, std::size_t>> running;
  std::atomic<int> done_calls{0};
  {
    ptl::BatchOptions o;
    o.limits.max_concurrent = 2;
    ptl::Batch batch(
        o, 10, [&](ptl::BatchView b, std::size_t i, std::uint32_t) { running.emplace_back(b, i); },
        [&] { ++done_calls; });
    ASSERT_EQ(running.size(), 2u);
  }  // ptl_batch_free: items 2..9 are cancelled; 0 and 1 still run
  EXPECT_EQ(done_calls.load(), 0) << "the batch ended while two attempts were running";
  for (auto& [b, i] : running) b.complete(i, PTL_OK);
  EXPECT_EQ(done_calls.load(), 1) << "the last completion ends the batch";
  EXPECT_EQ(running.size(), 2u) << "nothing started after the Batch was destroyed";
}

TEST(CppBatch, BadOptionsThrowAndRunNothing) {
  ptl::BatchOptions o;
  o.max_attempts = 0;
  bool started = false;
  EXPECT_THROW(
      ptl::Batch(o, 3, [&](ptl::BatchView, std::size_t, std::uint32_t) { started = true; }),
      ptl::Error);
  EXPECT_FALSE(started);
}

}  // namespace
}  // namespace ptl_flow_test
