// SPDX-License-Identifier: MIT
// The two-services example: two flows (translation and summarization) run at the same
// time, 15 instances each, and every call of their nodes takes the registered limiter
// "openai" (10 at once, 60 per window). Together they never pass either limit, and every
// item completes.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "flow_test_util.hpp"

namespace ptl_flow_test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kOpenAiConcurrent = 10;
constexpr std::uint64_t kOpenAiPerWindow = 60;
constexpr auto kWindow = 1s;  // short, so the test is quick; the limiter's logic is the same
// A call records its grant when its worker thread gets to run it, so a record may be late
// by a scheduling delay: with about a hundred threads on two cores under sanitizers, tens of
// milliseconds. A fixed-bucket or leaky limiter overshoots far more (a bucket boundary lets
// 120 through within milliseconds); the strict window's precision is tests/capi's business.
constexpr auto kSlack = 100ms;
constexpr int kInstances = 15, kItemsPerInstance = 3;

// What both flows' calls report to.
struct Observer {
  InFlight in_flight;
  GrantLog grants;
  std::atomic<int> ordinal{0};
  Rendezvous first_ten{static_cast<int>(kOpenAiConcurrent)};
  std::atomic<int> completed{0};
  std::atomic<std::uint64_t> window_peak{0};  // the limiter's own count, sampled by each call
};

// A node calling "the API" for each of its instance's texts under the shared limiter.
class ApiCall : public ptl::ThrottledParallelBatchNode<std::string, std::string> {
 public:
  ApiCall(std::string task, Observer* obs) : task_(std::move(task)), obs_(obs) {
    max_concurrent = 2;  // 30 instances x 2 calls: more than the shared 10, with few threads
    shared_limiter = ptl::registry().get("openai");
  }

 protected:
  std::vector<std::string> prep(ptl::Shared&) override {
    const std::string doc = params().get<std::string>("doc");
    std::vector<std::string> texts;
    for (int i = 0; i < kItemsPerInstance; ++i) texts.push_back(doc + "#" + std::to_string(i));
    return texts;
  }
  std::string exec(const std::string& text) const override {
    obs_->grants.record();
    Scope scope(obs_->in_flight);
    const std::uint64_t in_window = shared_limiter.stats().current_window_count;
    std::uint64_t seen = obs_->window_peak.load();
    while (in_window > seen && !obs_->window_peak.compare_exchange_weak(seen, in_window)) {
    }
    // The first ten grants are immediate (the window has room): they wait for each other,
    // so the concurrency limit is reached whatever the scheduling.
    if (obs_->ordinal.fetch_add(1) < static_cast<int>(kOpenAiConcurrent)) {
      EXPECT_TRUE(obs_->first_ten.arrive_and_wait());
    }
    jitter(std::hash<std::string>{}(text), 2000);
    ++obs_->completed;
    return task_ + "(" + text + ")";
  }
  std::string post(ptl::Shared& s, std::vector<std::string>&,
                   std::vector<std::string>& results) override {
    s.update<std::vector<std::string>>(task_, [&](std::vector<std::string>& all) {
      all.insert(all.end(), results.begin(), results.end());
    });
    return "";
  }

 private:
  std::string task_;
  Observer* obs_;
};

// One instance per document, all 15 at once.
class Documents : public ptl::ThrottledParallelBatchFlow {
 public:
  using ThrottledParallelBatchFlow::ThrottledParallelBatchFlow;

 protected:
  std::vector<ptl::Params> prep(ptl::Shared&) override {
    std::vector<ptl::Params> sets;
    for (int i = 0; i < kInstances; ++i) sets.push_back({{"doc", "doc" + std::to_string(i)}});
    return sets;
  }
};

TEST(SharedLimiter, TwoFlowsOnOneRegisteredLimiterNeverPassItsLimitsAndFinishEverything) {
  ptl::registry().register_limiter(
      "openai",
      {.max_concurrent = kOpenAiConcurrent,
       .max_per_window = kOpenAiPerWindow,
       .window_seconds = std::chrono::duration<double>(kWindow).count()},
      /*replace=*/true);
  Observer obs;
  Documents translation(std::make_shared<ApiCall>("translate", &obs));
  Documents summarization(std::make_shared<ApiCall>("summarize", &obs));
  translation.max_concurrent_flows = summarization.max_concurrent_flows = kInstances;
  ptl::Shared translated, summarized;

  std::thread a([&] { translation.run(translated); });
  std::thread b([&] { summarization.run(summarized); });
  a.join();
  b.join();

  constexpr int kCalls = 2 * kInstances * kItemsPerInstance;  // 90: more than one window
  EXPECT_EQ(obs.completed.load(), kCalls);
  EXPECT_EQ(translated.get<std::vector<std::string>>("translate").size(),
            static_cast<std::size_t>(kInstances * kItemsPerInstance));
  EXPECT_EQ(summarized.get<std::vector<std::string>>("summarize").size(),
            static_cast<std::size_t>(kInstances * kItemsPerInstance));
  EXPECT_EQ(translation.stats().completed_flows, static_cast<std::uint64_t>(kInstances));
  EXPECT_EQ(summarization.stats().completed_flows, static_cast<std::uint64_t>(kInstances));

  // Together: never more than 10 in flight, and 10 was reached.
  EXPECT_EQ(obs.in_flight.peak(), static_cast<int>(kOpenAiConcurrent));
  // Together: never more than 60 grants in any window, and the window did bind.
  EXPECT_LE(obs.window_peak.load(), kOpenAiPerWindow) << "the limiter's own window count";
  ASSERT_EQ(obs.grants.size(), static_cast<std::size_t>(kCalls));
  EXPECT_LE(obs.grants.max_in_any(kWindow - kSlack), kOpenAiPerWindow);
  EXPECT_GE(obs.grants.max_in_any(kWindow + kSlack), kOpenAiPerWindow);

  const ptl::LimiterStats s = ptl::registry().stats("openai");
  EXPECT_EQ(s.total_acquired, static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(s.in_flight, 0u);
  ptl::registry().remove("openai");
}

}  // namespace
}  // namespace ptl_flow_test
