// SPDX-License-Identifier: MIT
// The coroutine forms (ptl_flow_asio.hpp) on an io_context with one thread: AsyncNode
// retries, AsyncFlow routing, the async throttled batch node (peak exactly bounded, results
// in order, all on the io thread), waits for grants and retries that keep run() going, and
// the async throttled batch flow's failure isolation.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow_asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "flow_test_util.hpp"

namespace ptl_flow_test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs `flow.run_async(shared)` to its end on a one-thread io_context; returns its action.
template <class F>
std::string run_on_io(asio::io_context& io, F& flow, ptl::Shared& shared) {
  std::future<std::string> result = asio::co_spawn(io, flow.run_async(shared), asio::use_future);
  io.run();  // returns only when nothing is pending: the batch holds work while it runs
  EXPECT_EQ(result.wait_for(0s), std::future_status::ready) << "run() returned early";
  return result.get();
}

ptl::Awaitable<void> pause(std::chrono::microseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Doubles ints as coroutines, counting how many are in flight and on which thread.
class AsyncDouble : public ptl::AsyncThrottledParallelBatchNode<int, int> {
 public:
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();
  std::shared_ptr<std::atomic<int>> off_thread = std::make_shared<std::atomic<int>>(0);
  std::thread::id io_thread = std::this_thread::get_id();
  int fail_once = -1;  // this item fails its first attempt
  std::shared_ptr<std::atomic<int>> failed = std::make_shared<std::atomic<int>>(0);

 protected:
  ptl::Awaitable<std::vector<int>> prep_async(ptl::Shared& s) override {
    co_return s.get<std::vector<int>>("xs");
  }
  ptl::Awaitable<int> exec_async(const int& x) const override {
    if (std::this_thread::get_id() != io_thread) ++*off_thread;
    Scope scope(*in_flight);
    co_await pause(std::chrono::microseconds(200 + (x * 7919) % 1500));
    if (x == fail_once && failed->fetch_add(1) == 0) throw std::runtime_error("once");
    co_return 2 * x;
  }
  ptl::Awaitable<std::string> post_async(ptl::Shared& s, std::vector<int>&,
                                         std::vector<int>& r) override {
    s.set("doubled", r);
    co_return "check";
  }
};

// Checks what the batch node left, as an AsyncNode after it in the flow.
class Check : public ptl::AsyncNode<std::vector<int>, bool> {
 protected:
  ptl::Awaitable<std::vector<int>> prep_async(ptl::Shared& s) override {
    co_return s.get<std::vector<int>>("doubled");
  }
  ptl::Awaitable<bool> exec_async(const std::vector<int>& d) override {
    for (std::size_t i = 0; i < d.size(); ++i)
      if (d[i] != 2 * static_cast<int>(i)) co_return false;
    co_return true;
  }
  ptl::Awaitable<std::string> post_async(ptl::Shared& s, std::vector<int>&, bool& ok) override {
    s.set("ok", ok);
    co_return "checked";
  }
};

std::vector<int> iota(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}

TEST(AsioFlow, AsyncBatchNodeRunsCoroutinesAtMostMaxConcurrentAndKeepsTheOrder) {
  asio::io_context io(1);
  auto batch = std::make_shared<AsyncDouble>();
  batch->max_concurrent = 4;
  auto check = std::make_shared<Check>();
  (batch - "check") >> check;
  ptl::AsyncFlow flow(batch);
  ptl::Shared shared;
  shared.set("xs", iota(50));
  EXPECT_EQ(run_on_io(io, flow, shared), "checked");
  EXPECT_TRUE(shared.get<bool>("ok"));
  EXPECT_EQ(batch->in_flight->peak(), 4) << "four are granted at once on one thread";
  EXPECT_EQ(batch->off_thread->load(), 0) << "an item ran off the io thread";
  EXPECT_EQ(batch->stats().total_successes, 50u);
  EXPECT_EQ(batch->stats().last_run.peak_in_flight, 4u);
}

TEST(AsioFlow, WaitsForWindowGrantsAndRetryTimersKeepRunGoing) {
  asio::io_context io(1);
  auto batch = std::make_shared<AsyncDouble>();
  batch->max_concurrent = 3;
  batch->max_per_window = 5;  // per window_seconds below: 12 items need three windows
  batch->window_seconds = 0.1;
  batch->max_retries = 2;
  batch->wait = 30ms;
  batch->fail_once = 7;
  auto check = std::make_shared<Check>();
  (batch - "check") >> check;
  ptl::AsyncFlow flow(batch);
  ptl::Shared shared;
  shared.set("xs", iota(12));
  EXPECT_EQ(run_on_io(io, flow, shared), "checked");
  EXPECT_TRUE(shared.get<bool>("ok"));
  EXPECT_EQ(batch->stats().last_run.retries, 1u);
  EXPECT_LE(batch->in_flight->peak(), 3);
}

TEST(AsioFlow, FailFastThrowsOutOfTheFlowCoroutine) {
  asio::io_context io(1);
  auto batch = std::make_shared<AsyncDouble>();
  batch->fail_once = 2;
  ptl::AsyncFlow flow(batch);
  ptl::Shared shared;
  shared.set("xs", iota(6));
  std::future<std::string> result = asio::co_spawn(io, flow.run_async(shared), asio::use_future);
  io.run();
  EXPECT_THROW(result.get(), std::runtime_error);
}

// Fails its first `failures` attempts; the fallback answers after the last.
class Flaky : public ptl::AsyncNode<int, int> {
 public:
  int failures = 0;
  std::shared_ptr<std::vector<std::chrono::steady_clock::time_point>> times =
      std::make_shared<std::vector<std::chrono::steady_clock::time_point>>();

 protected:
  ptl::Awaitable<int> exec_async(const int&) override {
    times->push_back(std::chrono::steady_clock::now());
    if (static_cast<int>(times->size()) <= failures) throw std::runtime_error("flaky");
    co_return 1;
  }
  ptl::Awaitable<int> exec_fallback_async(const int&, std::exception_ptr) override { co_return -1; }
  ptl::Awaitable<std::string> post_async(ptl::Shared& s, int&, int& e) override {
    s.set("result", e);
    co_return "";
  }
};

TEST(AsioFlow, AsyncNodeRetriesOnATimerAndFallsBackAfterTheLastAttempt) {
  for (int failures : {2, 5}) {
    asio::io_context io(1);
    auto node = std::make_shared<Flaky>();
    node->failures = failures;
    node->max_retries = 3;
    node->wait = 10ms;
    ptl::AsyncFlow flow(node);
    ptl::Shared shared;
    EXPECT_EQ(run_on_io(io, flow, shared), "default");
    EXPECT_EQ(shared.get<int>("result"), failures < 3 ? 1 : -1);
    ASSERT_EQ(node->times->size(), 3u);  // the flow ran a copy; its vector is shared
    EXPECT_GE((*node->times)[2] - (*node->times)[1], 10ms);
  }
}

// An instance that waits a little and fails when its id is 5.
class Instance : public ptl::AsyncNode<> {
 public:
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();

 protected:
  ptl::Awaitable<std::string> post_async(ptl::Shared&, std::monostate&, std::monostate&) override {
    Scope scope(*in_flight);
    const int id = params().get<int>("id");
    co_await pause(std::chrono::microseconds(300 + (id * 131) % 900));
    if (id == 5) throw std::runtime_error("instance 5");
    co_return "ok-" + std::to_string(id);
  }
};

class Instances : public ptl::AsyncThrottledParallelBatchFlow {
 public:
  using AsyncThrottledParallelBatchFlow::AsyncThrottledParallelBatchFlow;

 protected:
  ptl::Awaitable<std::vector<ptl::Params>> prep_async(ptl::Shared&) override {
    std::vector<ptl::Params> sets;
    for (int i = 0; i < 12; ++i) sets.push_back({{"id", i}});
    co_return sets;
  }
  ptl::Awaitable<std::string> post_async(ptl::Shared& s, std::vector<ptl::Params>&,
                                         std::vector<ptl::FlowOutcome>& outcomes) override {
    s.set("outcomes", outcomes);
    co_return "all";
  }
};

TEST(AsioFlow, AsyncBatchFlowBoundsInstancesAndIsolatesAFailure) {
  asio::io_context io(1);
  auto node = std::make_shared<Instance>();
  Instances flow(node);
  flow.max_concurrent_flows = 3;
  ptl::Shared shared;
  EXPECT_EQ(run_on_io(io, flow, shared), "all");
  EXPECT_EQ(node->in_flight->peak(), 3);
  const auto outcomes = shared.get<std::vector<ptl::FlowOutcome>>("outcomes");
  ASSERT_EQ(outcomes.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    EXPECT_EQ(o.ok(), i != 5) << i;
    if (o.ok()) {
      EXPECT_EQ(o.action, "ok-" + std::to_string(i));
    }
  }
  EXPECT_EQ(flow.stats().completed_flows, 11u);
  EXPECT_EQ(flow.stats().failed_flows, 1u);
}

TEST(AsioFlow, AsyncNodesRefuseTheSyncRun) {
  Flaky node;
  ptl::Shared shared;
  EXPECT_THROW(node.run(shared), ptl::Error);
}

TEST(AsioFlow, CoroutineExecutorsShareTheSettingsOfTheThreadOnes) {
  static_assert(std::is_base_of_v<ptl::ThrottledNodeSettings, AsyncDouble>);
  static_assert(
      std::is_base_of_v<ptl::ThrottledFlowSettings, ptl::AsyncThrottledParallelBatchFlow>);
  AsyncDouble node;
  node.apply(ptl::presets::get("openai_tier1"));
  EXPECT_EQ(node.max_per_window, ptl::presets::get("openai_tier1").config.max_per_window);
  EXPECT_EQ(node.stats().max_per_window, node.max_per_window);
  node.max_retries = 0;
  asio::io_context io(1);
  ptl::Shared shared;
  shared.set("xs", iota(3));
  std::future<std::string> result = asio::co_spawn(io, node.run_async(shared), asio::use_future);
  io.run();
  EXPECT_THROW(result.get(), ptl::Error) << "the options are validated as for the thread form";
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(AsioFlow, TheOldSpellingOfCancelledStillNamesTheSameCode) {
  EXPECT_EQ(ptl::errc::canceled, ptl::errc::cancelled);
  EXPECT_EQ(ptl::make_error_code(ptl::errc::canceled), ptl::make_error_code(PTL_ECANCELED));
}
#pragma GCC diagnostic pop

}  // namespace
}  // namespace ptl_flow_test
