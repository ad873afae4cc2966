// SPDX-License-Identifier: MIT
// The C++ layer's names: the settings both executor families share (ThrottledNodeSettings,
// ThrottledFlowSettings), one verb for statistics (stats()), one spelling of "cancelled",
// max_per_window for what counts over window_seconds; and the deprecated old names, which
// must keep compiling and reading the same values.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl.hpp>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "flow_test_util.hpp"

namespace ptl_flow_test {
namespace {

class Echo : public ptl::ThrottledParallelBatchNode<int, int> {
 public:
  using ThrottledParallelBatchNode::ThrottledParallelBatchNode;

 protected:
  std::vector<int> prep(ptl::Shared& s) override { return s.get<std::vector<int>>("xs"); }
  int exec(const int& x) const override {
    if (x < 0) throw std::runtime_error("negative");
    return x;
  }
};

class Instances : public ptl::ThrottledParallelBatchFlow {
 public:
  using ThrottledParallelBatchFlow::ThrottledParallelBatchFlow;

 protected:
  std::vector<ptl::Params> prep(ptl::Shared&) override { return {{{"id", 1}}, {{"id", 2}}}; }
};

static_assert(std::is_base_of_v<ptl::ThrottledNodeSettings, Echo>);
static_assert(std::is_base_of_v<ptl::ThrottledFlowSettings, ptl::AdaptiveThrottledBatchFlow>);

TEST(Names, NodeSettingsCountPerWindowAndStatsReadThem) {
  Echo node;
  node.apply(ptl::LimiterConfig{.max_concurrent = 3, .max_per_window = 7, .window_seconds = 2.0});
  EXPECT_EQ(node.max_per_window, 7u);
  EXPECT_EQ(node.window_seconds, 2.0);
  node.failure_policy = ptl::FailurePolicy::collect;
  ptl::Shared shared;
  shared.set("xs", std::vector<int>{1, -1, 2});
  node.run(shared);
  const ptl::NodeStats s = node.stats();
  EXPECT_EQ(s.max_concurrent, 3u);
  EXPECT_EQ(s.max_per_window, 7u);
  const ptl::BatchStats& last = s.last_run;
  EXPECT_EQ(last.succeeded, 2u);
  EXPECT_EQ(last.failed, 1u);
  EXPECT_EQ(last.cancelled, 0u);
}

TEST(Names, FlowSettingsCountPerWindow) {
  Instances flow(std::make_shared<Echo>());
  flow.apply(ptl::LimiterConfig{.max_concurrent = 2, .max_per_window = 9});
  EXPECT_EQ(flow.max_flows_per_window, 9u);
  EXPECT_EQ(flow.stats().max_flows_per_window, 9u);
}

// Starts `n` items one at a time, cancels the batch while item 0 runs, then ends item 0.
ptl::Batch run_with_cancel(std::size_t n) {
  std::atomic<bool> started{false};
  ptl::BatchOptions options;
  options.limits.max_concurrent = 1;
  ptl::Batch batch(options, n,
                   [&started](ptl::BatchView, std::size_t, std::uint32_t) { started = true; });
  EXPECT_TRUE(eventually([&] { return started.load(); }));
  batch.cancel();
  batch.complete(0, PTL_OK);
  batch.wait();
  return batch;
}

TEST(Names, BatchStatsCountCancelledItems) {
  const ptl::Batch batch = run_with_cancel(3);
  const ptl::BatchStats s = batch.stats();
  EXPECT_EQ(s.succeeded, 1u);
  EXPECT_EQ(s.cancelled, 2u);
  EXPECT_EQ(batch.view().stats().cancelled, 2u);
}

// The old names still compile and alias the new ones; each use is a deprecation warning.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(
    std::is_same_v<ptl::ThrottledAsyncParallelBatchFlow, ptl::ThrottledParallelBatchFlow>);
static_assert(std::is_same_v<ptl::BatchReport, ptl::BatchStats>);

TEST(Names, DeprecatedAliasesStillReadAndWriteTheSameValues) {
  Echo node;
  node.max_per_minute = 11;
  EXPECT_EQ(node.max_per_window, 11u);
  EXPECT_EQ(node.stats().max_per_minute, 11u);
  Instances flow;
  flow.max_flows_per_minute = 4;
  EXPECT_EQ(flow.max_flows_per_window, 4u);
  EXPECT_EQ(flow.stats().max_flows_per_minute, 4u);

  const ptl::Batch batch = run_with_cancel(2);
  const ptl::BatchReport r = batch.report();
  EXPECT_EQ(r.canceled, 1u);
  EXPECT_EQ(r.canceled, r.cancelled);
  EXPECT_EQ(batch.view().report().canceled, 1u);
}
#pragma GCC diagnostic pop

}  // namespace
}  // namespace ptl_flow_test
