// SPDX-License-Identifier: MIT
// ThrottledParallelBatchFlow: failure isolation, params per instance (never shared between
// parallel instances), nested limits (flows x calls), statistics and presets.
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

// One param set {"id": i} per instance, i in [0, n).
class PerId : public ptl::ThrottledParallelBatchFlow {
 public:
  using ThrottledParallelBatchFlow::ThrottledParallelBatchFlow;
  int n = 10;

 protected:
  std::vector<ptl::Params> prep(ptl::Shared&) override {
    std::vector<ptl::Params> sets;
    for (int i = 0; i < n; ++i) sets.push_back({{"id", i}});
    return sets;
  }
  std::string post(ptl::Shared& s, std::vector<ptl::Params>& sets,
                   std::vector<ptl::FlowOutcome>& outcomes) override {
    EXPECT_EQ(sets.size(), outcomes.size());
    s.set("outcomes", outcomes);
    return "flows done";
  }
};

// Fails for the instance whose id is `bad`; returns "ok-<id>" otherwise.
class MaybeFail : public ptl::Node<> {
 public:
  int bad = -1;

 protected:
  std::string post(ptl::Shared&, std::monostate&, std::monostate&) override {
    const int id = params().get<int>("id");
    jitter(static_cast<std::uint64_t>(id));
    if (id == bad) throw std::runtime_error("instance " + std::to_string(id));
    return "ok-" + std::to_string(id);
  }
};

TEST(ThrottledFlow, OneInstanceFailingNeitherStopsNorCancelsTheOthers) {
  auto node = std::make_shared<MaybeFail>();
  node->bad = 3;
  PerId flow(node);
  ptl::Shared shared;
  EXPECT_EQ(flow.run(shared), "flows done");
  const auto outcomes = shared.get<std::vector<ptl::FlowOutcome>>("outcomes");
  ASSERT_EQ(outcomes.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    const ptl::FlowOutcome& o = outcomes[static_cast<std::size_t>(i)];
    if (i == 3) {
      ASSERT_FALSE(o.ok());
      EXPECT_THROW(std::rethrow_exception(o.error), std::runtime_error);
    } else {
      EXPECT_TRUE(o.ok()) << i;
      EXPECT_EQ(o.action, "ok-" + std::to_string(i));
    }
  }
  const ptl::FlowStats s = flow.stats();
  EXPECT_EQ(s.completed_flows, 9u);
  EXPECT_EQ(s.failed_flows, 1u);
  EXPECT_EQ(s.max_concurrent_flows, 5u);
  EXPECT_EQ(s.max_flows_per_window, 0u);
  EXPECT_LE(s.last_run.peak_in_flight, 5u);
}

// Keeps its instance's id from prep to post, across a pause in which the other instances
// run; any sharing of params between instances shows as a mismatch.
class KeepsId : public ptl::Node<int, int> {
 public:
  explicit KeepsId(std::string name, bool rendezvous)
      : name_(std::move(name)), rendezvous_(rendezvous) {}
  std::shared_ptr<InFlight> in_flight;
  std::shared_ptr<Rendezvous> meeting = std::make_shared<Rendezvous>(5);

 protected:
  int prep(ptl::Shared&) override { return params().get<int>("id"); }
  int exec(const int& id) override {
    Scope scope(*in_flight);
    if (rendezvous_ && id < 5) {  // the first node only: instances 0-4 run it together
      EXPECT_TRUE(meeting->arrive_and_wait());
    }
    jitter(static_cast<std::uint64_t>(id) + 100);
    return params().get<int>("id");
  }
  std::string post(ptl::Shared& s, int& id, int& later) override {
    EXPECT_EQ(id, later) << name_ << ": another instance's params leaked in";
    EXPECT_EQ(params().get<std::string>("tone"), "formal") << "the flow params were lost";
    EXPECT_EQ(params().get<int>("id"), id);
    s.update<std::vector<int>>(name_, [&](std::vector<int>& v) { v.push_back(id); });
    return "";
  }

 private:
  std::string name_;
  bool rendezvous_;
};

TEST(ThrottledFlow, ParallelInstancesEachSeeTheirOwnParamsOverTheFlowParams) {
  auto in_flight = std::make_shared<InFlight>();
  auto first = std::make_shared<KeepsId>("first", true);
  auto second = std::make_shared<KeepsId>("second", false);
  first->in_flight = second->in_flight = in_flight;
  first >> second;
  PerId flow(first);
  flow.n = 20;
  flow.max_concurrent_flows = 20;
  flow.set_params({{"id", -1}, {"tone", "formal"}});
  ptl::Shared shared;
  flow.run(shared);
  EXPECT_GE(in_flight->peak(), 5) << "the instances did not overlap: the test proves nothing";
  for (const char* name : {"first", "second"}) {
    auto seen = shared.get<std::vector<int>>(name);
    std::sort(seen.begin(), seen.end());
    std::vector<int> all(20);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(seen, all) << name;
  }
  EXPECT_EQ(flow.stats().completed_flows, 20u);
}

// Three calls of each instance at once, six per instance; the first wave waits for all 15.
class Calls : public ptl::ThrottledParallelBatchNode<int, int> {
 public:
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();
  std::shared_ptr<std::atomic<int>> done = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<Rendezvous> meeting = std::make_shared<Rendezvous>(15);

 protected:
  std::vector<int> prep(ptl::Shared&) override { return {0, 1, 2, 3, 4, 5}; }
  int exec(const int& item) const override {
    Scope scope(*in_flight);
    const int id = params().get<int>("id");
    if (id < 5 && item < 3) {
      EXPECT_TRUE(meeting->arrive_and_wait());
    }
    jitter(static_cast<std::uint64_t>(id * 10 + item), 2000);
    ++*done;
    return item;
  }
};

TEST(ThrottledFlow, NestedLimitsMultiply_FiveFlowsTimesThreeCallsIsFifteenAtMost) {
  auto calls = std::make_shared<Calls>();
  calls->max_concurrent = 3;
  PerId flow(calls);
  flow.max_concurrent_flows = 5;
  flow.n = 12;
  ptl::Shared shared;
  flow.run(shared);
  EXPECT_EQ(calls->in_flight->peak(), 15);
  EXPECT_EQ(calls->done->load(), 12 * 6);
  EXPECT_EQ(flow.stats().completed_flows, 12u);
  EXPECT_EQ(flow.stats().last_run.peak_in_flight, 5u);
  // The node the user holds reports for the copies the instances ran.
  const ptl::NodeStats s = calls->stats();
  EXPECT_EQ(s.runs, 12u);
  EXPECT_EQ(s.total_successes, 72u);
}

TEST(ThrottledFlow, AFlowPresetConfiguresTheFlowInOneLine) {
  const ptl::Preset p = ptl::presets::get("flow_moderate");
  PerId flow(std::make_shared<MaybeFail>(), p);
  EXPECT_EQ(flow.max_concurrent_flows, p.config.max_concurrent);
  EXPECT_EQ(flow.max_flows_per_window, p.config.max_per_window);
  EXPECT_THROW(flow.apply(ptl::presets::get("openai_tier1")), ptl::Error);
}

TEST(ThrottledFlow, AnEmptyBatchRunsNothingAndPostsNothing) {
  auto node = std::make_shared<MaybeFail>();
  PerId flow(node);
  flow.n = 0;
  ptl::Shared shared;
  EXPECT_EQ(flow.run(shared), "flows done");
  EXPECT_TRUE(shared.get<std::vector<ptl::FlowOutcome>>("outcomes").empty());
  EXPECT_EQ(flow.stats().completed_flows, 0u);
}

}  // namespace
}  // namespace ptl_flow_test
