// SPDX-License-Identifier: MIT
// AdaptiveThrottledNode against an API with a hidden concurrency limit, learning carried
// from one run to the next, recovery, and AdaptiveThrottledBatchFlow backing off on an
// instance's RateLimitHit or on signals propagated by its nodes.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow.hpp>

#include <atomic>
#include <chrono>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "flow_test_util.hpp"

namespace ptl_flow_test {
namespace {

using namespace std::chrono_literals;

// An API that answers 429 when more than `hidden` calls are in flight; the node must find
// that level by itself. Records every level the node reported while running.
class HiddenLimitApi : public ptl::AdaptiveThrottledNode<int, int> {
 public:
  struct Probe {
    int hidden = 5;
    InFlight in_flight;  // calls inside the API, rejected ones included
    std::atomic<int> rejected{0};
    std::atomic<std::uint32_t> lowest{~0u}, highest{0};
  };
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  int items = 300;

 protected:
  std::vector<int> prep(ptl::Shared&) override {
    std::vector<int> v(static_cast<std::size_t>(items));
    std::iota(v.begin(), v.end(), 0);
    return v;
  }
  int exec(const int& x) const override {
    const std::uint32_t c = current_concurrent();
    probe->lowest = std::min(probe->lowest.load(), c);    // a racy min/max is fine: one
    probe->highest = std::max(probe->highest.load(), c);  // writer wins, both are readings
    Scope scope(probe->in_flight);
    if (scope.now() > probe->hidden) {
      ++probe->rejected;
      throw ptl::RateLimitHit();
    }
    std::this_thread::sleep_for(1ms);
    jitter(static_cast<std::uint64_t>(x), 1000);
    return x;
  }
};

TEST(AdaptiveNode, FindsAHiddenLimitWithFew429sAndStartsTheNextRunThere) {
  HiddenLimitApi node;
  node.initial_concurrent = 16;
  node.min_concurrent = 1;
  node.max_concurrent = 20;
  node.recovery_threshold = 100000;  // no growth: this test is about backing off
  node.max_retries = 10;
  ptl::Shared shared;
  node.run(shared);

  const ptl::AdaptiveNodeStats s = node.stats();
  EXPECT_EQ(s.total_successes, 300u) << "every item ends well, after retries";
  EXPECT_GE(s.total_rate_limits, 1u) << "starting at 16 over a hidden 5 must hit the limit";
  // Bound: a 429 needs more than 5 calls in flight, so it comes from an attempt granted at
  // a level above 5. The first 429 of a level shrinks it before its permit goes back, when
  // at most that level's number of attempts of it are running; later ones granted before
  // that do not shrink again, and later grants are at the lower level. The levels above 5
  // from 16 are 16 and 8: at most 24 rejected attempts, however many items there are; here
  // at most 24 of 324 attempts (7%).
  EXPECT_LE(s.total_rate_limits, 24u);
  EXPECT_EQ(static_cast<std::uint64_t>(node.probe->rejected.load()), s.total_rate_limits);
  EXPECT_LE(node.probe->in_flight.peak(), 16) << "never above the highest level it had";
  EXPECT_GE(node.probe->lowest.load(), 1u);
  EXPECT_LE(node.probe->highest.load(), 16u);

  const std::uint32_t learned = node.current_concurrent();
  EXPECT_LE(learned, 5u) << "it ended above the hidden limit";
  EXPECT_GE(learned, 1u);
  EXPECT_GE(s.total_backoffs, 1u);

  // The next run starts at the learned level, and without growth it never exceeds it: so
  // no call is rejected, and in flight stays within the node's limit.
  auto second = std::make_shared<HiddenLimitApi::Probe>();
  node.probe = second;
  node.items = 100;
  node.run(shared);
  EXPECT_EQ(second->rejected.load(), 0);
  EXPECT_LE(second->in_flight.peak(), static_cast<int>(learned));
  EXPECT_EQ(second->highest.load(), learned);
  EXPECT_EQ(node.stats().runs, 2u);
}

TEST(AdaptiveNode, SustainedSuccessGrowsConcurrencyUpToItsCeiling) {
  HiddenLimitApi node;
  node.probe->hidden = 1000;
  node.items = 80;
  node.initial_concurrent = 1;
  node.max_concurrent = 6;
  node.recovery_threshold = 3;
  ptl::Shared shared;
  node.run(shared);
  const ptl::AdaptiveNodeStats s = node.stats();
  EXPECT_EQ(s.current_concurrent, 6u);
  EXPECT_EQ(s.total_recoveries, 5u) << "1 -> 2 -> 3 -> 4 -> 5 -> 6, at least +1 each";
  EXPECT_EQ(s.total_rate_limits, 0u);
  EXPECT_LE(node.probe->in_flight.peak(), 6);
  EXPECT_GE(node.probe->lowest.load(), 1u);
  EXPECT_LE(node.probe->highest.load(), 6u);
  node.reset_adaptive_state();
  EXPECT_EQ(node.current_concurrent(), 1u) << "reset forgets what was learned";
}

TEST(AdaptiveNode, APresetSetsTheStartingLevel) {
  const ptl::Preset p = ptl::presets::get("anthropic_build_tier2");
  HiddenLimitApi node;
  node.apply(p);
  EXPECT_EQ(node.initial_concurrent, p.config.max_concurrent);
  EXPECT_GE(node.max_concurrent, node.initial_concurrent);
  EXPECT_EQ(node.current_concurrent(), p.config.max_concurrent);
}

// One param set {"id": i} per instance.
class Adaptive : public ptl::AdaptiveThrottledBatchFlow {
 public:
  using AdaptiveThrottledBatchFlow::AdaptiveThrottledBatchFlow;
  int n = 24;

 protected:
  std::vector<ptl::Params> prep(ptl::Shared&) override {
    std::vector<ptl::Params> sets;
    for (int i = 0; i < n; ++i) sets.push_back({{"id", i}});
    return sets;
  }
};

// An adaptive node whose item 0 is rate-limited once in the first eight instances; a
// retry saves it, so every instance succeeds and only the propagated signal remains.
class Upstream : public ptl::AdaptiveThrottledNode<int, int> {
 protected:
  std::vector<int> prep(ptl::Shared&) override { return {0, 1, 2, 3}; }
  int exec(const int& x) const override {
    std::this_thread::sleep_for(1ms);
    const int id = params().get<int>("id");
    if (x == 0 && id < 8 && !(*retried_)[static_cast<std::size_t>(id)].exchange(true))
      throw ptl::RateLimitHit();
    return x;
  }

 private:
  std::shared_ptr<std::vector<std::atomic<bool>>> retried_ =
      std::make_shared<std::vector<std::atomic<bool>>>(8);
};

Adaptive make_flow(std::shared_ptr<Upstream> node) {
  node->max_retries = 2;
  Adaptive flow(node);
  flow.initial_concurrent_flows = 8;
  flow.max_concurrent_flows = 8;
  flow.recovery_threshold = 100000;
  return flow;
}

TEST(AdaptiveFlow, SignalsPropagatedByANodeShrinkFlowConcurrency) {
  auto node = std::make_shared<Upstream>();
  Adaptive flow = make_flow(node);
  ptl::Shared shared;
  flow.run(shared);
  const ptl::AdaptiveFlowStats s = flow.stats();
  EXPECT_EQ(s.failed_flows, 0u) << "the node's retries saved every instance";
  EXPECT_EQ(s.completed_flows, 24u);
  EXPECT_EQ(s.total_rate_limits, 8u) << "each propagated signal reached the flow";
  EXPECT_LT(s.current_concurrent_flows, 8u);
  EXPECT_GE(s.current_concurrent_flows, 1u);
  EXPECT_GE(s.total_backoffs, 1u);
  EXPECT_EQ(node->stats().total_rate_limits, 8u);
}

TEST(AdaptiveFlow, WithoutPropagationTheFlowKeepsItsLevel) {
  auto node = std::make_shared<Upstream>();
  node->propagate_rate_limit = false;
  Adaptive flow = make_flow(node);
  ptl::Shared shared;
  flow.run(shared);
  const ptl::AdaptiveFlowStats s = flow.stats();
  EXPECT_EQ(s.completed_flows, 24u);
  EXPECT_EQ(s.total_rate_limits, 0u);
  EXPECT_EQ(s.current_concurrent_flows, 8u);
  EXPECT_EQ(node->stats().total_rate_limits, 8u) << "the node still saw them";
}

TEST(AdaptiveFlow, AnInstanceFailingWithRateLimitHitShrinksTheFlow) {
  struct Fails : ptl::Node<> {
    std::string post(ptl::Shared&, std::monostate&, std::monostate&) override {
      if (params().get<int>("id") == 0) throw ptl::RateLimitHit();
      return "";
    }
  };
  Adaptive flow(std::make_shared<Fails>());
  flow.initial_concurrent_flows = 6;
  flow.recovery_threshold = 100000;
  flow.n = 12;
  ptl::Shared shared;
  flow.run(shared);
  const ptl::AdaptiveFlowStats s = flow.stats();
  EXPECT_EQ(s.failed_flows, 1u);
  EXPECT_EQ(s.completed_flows, 11u);
  EXPECT_EQ(s.total_rate_limits, 1u);
  EXPECT_EQ(s.current_concurrent_flows, 3u) << "6 * backoff 0.5";
}

TEST(AdaptiveFlow, AnAdaptivePresetSetsEveryKnob) {
  const ptl::Preset p = ptl::presets::get("flow_adaptive_moderate");
  Adaptive flow(std::make_shared<Upstream>(), p);
  EXPECT_EQ(flow.initial_concurrent_flows, p.config.max_concurrent);
  EXPECT_EQ(flow.min_concurrent_flows, p.adaptive.min_concurrent);
  EXPECT_EQ(flow.max_concurrent_flows, p.adaptive.max_concurrent);
  EXPECT_EQ(flow.recovery_threshold, p.adaptive.recovery_threshold);
  EXPECT_DOUBLE_EQ(flow.backoff_factor, p.adaptive.backoff_factor);
  EXPECT_DOUBLE_EQ(flow.recovery_factor, p.adaptive.recovery_factor);
}

}  // namespace
}  // namespace ptl_flow_test
