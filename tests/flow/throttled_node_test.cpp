// SPDX-License-Identifier: MIT
// ThrottledParallelBatchNode: results in input order under its limit, fail-fast and collect
// policies, retries and fallback, rate-limit recognition, Retry-After, presets, statistics.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "flow_test_util.hpp"

namespace ptl_flow_test {
namespace {

using namespace std::chrono_literals;

// Squares ints under its limit. Items listed in `fail` throw `failure`; the first four wait
// until four run at once, so reaching the limit does not depend on timing.
class Square : public ptl::ThrottledParallelBatchNode<int, int> {
 public:
  using ThrottledParallelBatchNode::ThrottledParallelBatchNode;
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::vector<int> fail;
  // Items [0, n) wait for each other, so that n run at once whatever the scheduling.
  void meet(int n) {
    rendezvous = n;
    meeting = std::make_shared<Rendezvous>(n);
  }
  int rendezvous = 0;
  std::shared_ptr<Rendezvous> meeting;

 protected:
  std::vector<int> prep(ptl::Shared& s) override { return s.get<std::vector<int>>("xs"); }
  int exec(const int& x) const override {
    Scope scope(*in_flight);
    ++*calls;
    if (x < rendezvous) {
      EXPECT_TRUE(meeting->arrive_and_wait());
    }
    jitter(static_cast<std::uint64_t>(x));
    for (int f : fail)
      if (f == x) throw std::runtime_error("item " + std::to_string(x) + " failed");
    return x * x;
  }
  std::string post(ptl::Shared& s, std::vector<int>&, std::vector<int>& r) override {
    s.set("squares", r);
    s.set("failures", failures().size());
    for (const ptl::ItemFailure& f : failures()) EXPECT_EQ(f.status, ptl::kStatusExecFailed);
    return "";
  }
};

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(ThrottledNode, ResultsComeInInputOrderAndTheLimitIsReachedNeverPassed) {
  Square node;
  node.max_concurrent = 4;
  node.meet(4);
  ptl::Shared shared;
  shared.set("xs", iota(40));
  node.run(shared);
  std::vector<int> expected;
  for (int x : iota(40)) expected.push_back(x * x);
  EXPECT_EQ(shared.get<std::vector<int>>("squares"), expected);
  EXPECT_EQ(node.in_flight->peak(), 4);
  const ptl::NodeStats s = node.stats();
  EXPECT_EQ(s.runs, 1u);
  EXPECT_EQ(s.total_items, 40u);
  EXPECT_EQ(s.total_successes, 40u);
  EXPECT_EQ(s.last_run.peak_in_flight, 4u);
  EXPECT_EQ(s.max_concurrent, 4u);
}

TEST(ThrottledNode, FailFastThrowsTheLowestIndexFailureAndCancelsWhatHadNotStarted) {
  // Item 4 fails first in time; item 3 fails after it, yet its exception is the one thrown,
  // as asyncio.gather's order of arguments would have it.
  struct Ordered : ptl::ThrottledParallelBatchNode<int, int> {
    std::shared_ptr<std::atomic<bool>> four_failed = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::vector<int> prep(ptl::Shared&) override { return iota(30); }
    int exec(const int& x) const override {
      ++*calls;
      if (x == 4) {
        *four_failed = true;
        throw std::runtime_error("item 4");
      }
      if (x == 3) {
        EXPECT_TRUE(eventually([&] { return four_failed->load(); }));
        throw std::runtime_error("item 3");
      }
      return x;
    }
  } node;
  node.max_concurrent = 2;
  ptl::Shared shared;
  try {
    node.run(shared);
    FAIL() << "the node did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "item 3");
  }
  const ptl::BatchStats r = node.stats().last_run;
  EXPECT_EQ(r.failed, 2u);
  EXPECT_GT(r.cancelled, 0u) << "fail-fast cancels the items not started";
  EXPECT_EQ(r.succeeded + r.failed + r.cancelled, 30u);
  EXPECT_EQ(static_cast<std::uint64_t>(node.calls->load()), r.succeeded + r.failed);
}

TEST(ThrottledNode, CollectRunsEveryItemAndHandsTheFailuresToPost) {
  Square node;
  node.max_concurrent = 3;
  node.failure_policy = ptl::FailurePolicy::collect;
  node.fail = {2, 6};
  ptl::Shared shared;
  shared.set("xs", iota(10));
  node.run(shared);
  EXPECT_EQ(shared.get<std::vector<int>>("squares"),
            (std::vector<int>{0, 1, 0, 9, 16, 25, 0, 49, 64, 81}));
  EXPECT_EQ(shared.get<std::size_t>("failures"), 2u);
  EXPECT_EQ(node.calls->load(), 10);
  EXPECT_EQ(node.stats().total_failures, 2u);
}

// Item 4 always fails; the others fail once when `flaky`. exec_fallback rescues item 4.
class Rescue : public ptl::ThrottledParallelBatchNode<int, int> {
 public:
  std::shared_ptr<std::vector<std::atomic<int>>> attempts =
      std::make_shared<std::vector<std::atomic<int>>>(8);

 protected:
  std::vector<int> prep(ptl::Shared&) override { return iota(8); }
  int exec(const int& x) const override {
    const int n = ++(*attempts)[static_cast<std::size_t>(x)];
    if (x == 4) throw std::runtime_error("always");
    if (n == 1 && x % 2 == 1) throw std::runtime_error("first attempt of an odd item");
    return x;
  }
  int exec_fallback(const int& x, std::exception_ptr e) const override {
    try {
      std::rethrow_exception(e);
    } catch (const std::runtime_error& err) {
      EXPECT_STREQ(err.what(), "always");
    }
    return -x;
  }
  std::string post(ptl::Shared& s, std::vector<int>&, std::vector<int>& r) override {
    s.set("r", r);
    return "";
  }
};

TEST(ThrottledNode, RetriesCountAttemptsInAllAndTheFallbackRescuesTheLastFailure) {
  Rescue node;
  node.max_retries = 3;
  node.wait = 1ms;
  ptl::Shared shared;
  node.run(shared);
  EXPECT_EQ(shared.get<std::vector<int>>("r"), (std::vector<int>{0, 1, 2, 3, -4, 5, 6, 7}));
  EXPECT_EQ((*node.attempts)[4].load(), 3) << "max_retries is the number of attempts in all";
  EXPECT_EQ((*node.attempts)[3].load(), 2);
  EXPECT_EQ((*node.attempts)[2].load(), 1);
  const ptl::BatchStats r = node.stats().last_run;
  EXPECT_EQ(r.retries, 2u + 4u);  // item 4 twice, each odd item once
  EXPECT_EQ(r.fallbacks, 1u);
  EXPECT_EQ(r.succeeded, 8u);
}

// Throws, on each item's first attempt only, what the item names.
class Thrower : public ptl::ThrottledParallelBatchNode<std::string, int> {
 public:
  bool only_typed = false;
  std::shared_ptr<std::vector<std::atomic<int>>> seen =
      std::make_shared<std::vector<std::atomic<int>>>(5);

 protected:
  std::vector<std::string> prep(ptl::Shared&) override {
    return {"hit", "HTTP 429 Too Many Requests", "Quota Exceeded for project", "boom", "ok"};
  }
  int exec(const std::string& what) const override {
    static const std::vector<std::string> all = {"hit", "HTTP 429 Too Many Requests",
                                                 "Quota Exceeded for project", "boom", "ok"};
    const auto i = static_cast<std::size_t>(std::find(all.begin(), all.end(), what) - all.begin());
    if (++(*seen)[i] > 1 || what == "ok") return 1;
    if (what == "hit") throw ptl::RateLimitHit();
    throw std::runtime_error(what);
  }
  bool is_rate_limit_error(const std::exception& e) const override {
    return !only_typed && ThrottledParallelBatchNode::is_rate_limit_error(e);
  }
};

TEST(ThrottledNode, RateLimitErrorsAreKnownByTypeAndByMessage) {
  Thrower node;
  node.max_retries = 2;
  ptl::Shared shared;
  node.run(shared);
  EXPECT_EQ(node.stats().total_rate_limits, 3u) << "RateLimitHit, '429' and 'quota exceeded'";
  EXPECT_EQ(node.stats().total_retries, 4u);

  Thrower typed;
  typed.max_retries = 2;
  typed.only_typed = true;
  typed.run(shared);
  EXPECT_EQ(typed.stats().total_rate_limits, 1u) << "only the RateLimitHit";
}

TEST(ThrottledNode, RetryAfterPausesTheSharedLimiterForEverySharer) {
  struct Hit : ptl::ThrottledParallelBatchNode<int, int> {
    std::vector<int> prep(ptl::Shared&) override { return {0}; }
    int exec(const int&) const override { throw ptl::RateLimitHit("429", 30s); }
  } node;
  node.shared_limiter = ptl::Limiter::create({.max_concurrent = 10});
  node.failure_policy = ptl::FailurePolicy::collect;
  ptl::Shared shared;
  node.run(shared);
  const ptl::TryAcquireResult r = node.shared_limiter.try_acquire_with_retry_after();
  EXPECT_FALSE(r) << "the upstream's Retry-After did not pause the shared limiter";
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_GT(*r.retry_after, 20s);
}

TEST(ThrottledNode, EachCallHoldsAPermitOfTheSharedLimiterToo) {
  Square node;
  node.max_concurrent = 8;
  node.shared_limiter = ptl::Limiter::create({.max_concurrent = 3});
  node.meet(3);
  ptl::Shared shared;
  shared.set("xs", iota(30));
  node.run(shared);
  EXPECT_EQ(node.in_flight->peak(), 3);
  EXPECT_EQ(node.shared_limiter.stats().total_acquired, 30u);
  EXPECT_EQ(node.shared_limiter.stats().in_flight, 0u);
}

TEST(ThrottledNode, APresetConfiguresTheNodeInOneLine) {
  const ptl::Preset p = ptl::presets::get("openai_tier1");
  Square node(p);
  EXPECT_EQ(node.max_concurrent, p.config.max_concurrent);
  EXPECT_EQ(node.max_per_window, p.config.max_per_window);
  EXPECT_DOUBLE_EQ(node.window_seconds, 60.0);
  try {
    node.apply(ptl::presets::get("flow_moderate"));
    FAIL() << "a flow preset configured a node";
  } catch (const ptl::Error& e) {
    EXPECT_EQ(e.status(), PTL_EINVAL);
  }
}

TEST(ThrottledNode, BadLimitsAreReportedBeforeAnythingRuns) {
  Square node;
  node.max_concurrent = 0;
  ptl::Shared shared;
  shared.set("xs", iota(3));
  EXPECT_THROW(node.run(shared), ptl::Error);
  EXPECT_EQ(node.calls->load(), 0);
}

}  // namespace
}  // namespace ptl_flow_test
