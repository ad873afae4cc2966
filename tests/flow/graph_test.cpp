// SPDX-License-Identifier: MIT
// PocketFlow's graph: prep/exec/post order, action routing, retries and their wait,
// fallbacks, batch nodes and batch flows, params merging, copies per visit, warnings.
// (Wiring rules, loops' lifetime and the params/shared containers: wiring_test.cpp.)
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_flow.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

void log(ptl::Shared& s, std::string entry) {
  s.update<Log>("log", [&](Log& l) { l.push_back(std::move(entry)); });
}

// Logs each step under its name; its action is the shared entry "go" when set.
class Step : public ptl::Node<std::string, std::string> {
 public:
  explicit Step(std::string name) : name_(std::move(name)) {}
  int visits = 0;

 protected:
  std::string prep(ptl::Shared& s) override {
    log(s, name_ + ".prep");
    return name_;
  }
  std::string exec(const std::string& p) override {
    ++visits;  // on this copy only
    return p + "!";
  }
  std::string post(ptl::Shared& s, std::string& p, std::string& e) override {
    log(s, name_ + ".post(" + p + "," + e + ")");
    s.set(name_ + ".visits_on_copy", visits);
    return s.find<std::string>("go").value_or("");
  }

 private:
  std::string name_;
};

TEST(FlowGraph, NodeRunsPrepExecPostInOrderAndTheFlowFollowsTheAction) {
  auto decide = std::make_shared<Step>("decide");
  auto left = std::make_shared<Step>("left");
  auto right = std::make_shared<Step>("right");
  (decide - "left") >> left;
  (decide - "right") >> right;
  ptl::Flow flow(decide);
  ptl::Shared shared;
  shared.set("go", "right");
  // right has no successors: the flow ends silently with its action.
  EXPECT_EQ(flow.run(shared), "right");
  EXPECT_EQ(shared.get<Log>("log"), (Log{"decide.prep", "decide.post(decide,decide!)", "right.prep",
                                         "right.post(right,right!)"}));
}

TEST(FlowGraph, EachVisitRunsAFreshCopyOfTheWiredNode) {
  auto a = std::make_shared<Step>("a");
  auto b = std::make_shared<Step>("b");
  a >> b;
  ptl::Flow flow(a);
  ptl::Shared shared;
  flow.run(shared);
  EXPECT_EQ(a->visits, 0) << "the flow ran the prototype instead of a copy";
  EXPECT_EQ(b->visits, 0);
  EXPECT_EQ(shared.get<int>("a.visits_on_copy"), 1);
  std::vector<std::string> warnings;
  ptl::set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  a->run(shared);  // a node run alone runs itself, and warns that successors are not followed
  ptl::set_warning_handler(nullptr);
  EXPECT_EQ(a->visits, 1);
  EXPECT_EQ(warnings, std::vector<std::string>{"Node won't run successors. Use Flow."});
}

// Loops back to itself until it has run `times` times (counted in the shared store, since
// every visit is a new copy).
class Loop : public ptl::Node<> {
 public:
  explicit Loop(int times) : times_(times) {}

 protected:
  std::string post(ptl::Shared& s, std::monostate&, std::monostate&) override {
    const int n = s.update<int>("loops", [](int& v) { return ++v; });
    return n < times_ ? "again" : "done";
  }

 private:
  int times_;
};

TEST(FlowGraph, NamedActionsCanLoopAndAnUnknownActionEndsTheFlowWithAWarning) {
  std::vector<std::string> warnings;
  ptl::set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  auto loop = std::make_shared<Loop>(3);
  auto other = std::make_shared<Loop>(1);
  (loop - "again") >> loop;
  (loop - "elsewhere") >> other;
  ptl::Flow flow(loop);
  ptl::Shared shared;
  EXPECT_EQ(flow.run(shared), "done");
  ptl::set_warning_handler(nullptr);
  EXPECT_EQ(shared.get<int>("loops"), 3);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "Flow ends: 'done' not found in ['again', 'elsewhere']");
}

// Fails its first `failures` attempts; records each attempt's cur_retry and time.
class Flaky : public ptl::Node<int, int> {
 public:
  Flaky(int failures, int retries, std::chrono::nanoseconds wait_between)
      : Node(retries, wait_between), failures_(failures) {}
  std::vector<int> seen_retries;
  std::vector<std::chrono::steady_clock::time_point> times;
  std::exception_ptr fallback_error;

 protected:
  int exec(const int& p) override {
    seen_retries.push_back(cur_retry());
    times.push_back(std::chrono::steady_clock::now());
    if (static_cast<int>(times.size()) <= failures_)
      throw std::runtime_error("attempt " + std::to_string(times.size()) + " failed");
    return p + 100;
  }
  int exec_fallback(const int& p, std::exception_ptr e) override {
    fallback_error = e;
    return -p;
  }
  std::string post(ptl::Shared& s, int&, int& e) override {
    s.set("result", e);
    return "";
  }

 private:
  int failures_;
};

TEST(FlowGraph, RetriesCountAttemptsInAllAndWaitBetweenThem) {
  Flaky node(/*failures=*/2, /*retries=*/3, 20ms);
  ptl::Shared shared;
  EXPECT_EQ(node.run(shared), "default") << "an empty action is \"default\"";
  EXPECT_EQ(shared.get<int>("result"), 100);
  EXPECT_EQ(node.seen_retries, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(node.fallback_error, nullptr);
  // sleep_for never returns early, so the gaps are at least the wait.
  ASSERT_EQ(node.times.size(), 3u);
  EXPECT_GE(node.times[1] - node.times[0], 20ms);
  EXPECT_GE(node.times[2] - node.times[1], 20ms);
}

TEST(FlowGraph, FallbackRunsAfterTheLastAttemptWithItsException) {
  Flaky node(/*failures=*/5, /*retries=*/2, 0ms);
  ptl::Shared shared;
  node.run(shared);
  EXPECT_EQ(node.seen_retries.size(), 2u) << "max_retries is the number of attempts in all";
  EXPECT_EQ(shared.get<int>("result"), 0) << "the fallback's result goes to post";
  ASSERT_NE(node.fallback_error, nullptr);
  try {
    std::rethrow_exception(node.fallback_error);
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "attempt 2 failed");
  }
}

TEST(FlowGraph, DefaultFallbackRethrowsAndTheFlowFails) {
  auto always_fails = std::make_shared<ptl::Node<int, int>>();  // default exec returns 0
  struct Boom : ptl::Node<int, int> {
    int exec(const int&) override { throw std::logic_error("boom"); }
  };
  auto boom = std::make_shared<Boom>();
  always_fails >> boom;
  ptl::Flow flow(always_fails);
  ptl::Shared shared;
  EXPECT_THROW(flow.run(shared), std::logic_error);
}

class Double : public ptl::BatchNode<int, int> {
 protected:
  std::vector<int> prep(ptl::Shared& s) override { return s.get<std::vector<int>>("xs"); }
  int exec(const int& x) override {
    if (x == 3 && cur_retry() == 0) throw std::runtime_error("first try of 3");
    return 2 * x;
  }
  std::string post(ptl::Shared& s, std::vector<int>&, std::vector<int>& r) override {
    s.set("doubled", r);
    return "";
  }

 public:
  Double() : BatchNode(/*retries=*/2) {}
};

TEST(FlowGraph, BatchNodeRunsEachItemWithRetriesAndKeepsTheOrder) {
  Double node;
  ptl::Shared shared;
  shared.set("xs", std::vector<int>{1, 2, 3, 4});
  node.run(shared);
  EXPECT_EQ(shared.get<std::vector<int>>("doubled"), (std::vector<int>{2, 4, 6, 8}));
}

// Records the params it saw.
class Remember : public ptl::Node<> {
 protected:
  std::string post(ptl::Shared& s, std::monostate&, std::monostate&) override {
    log(s, params().get<std::string>("lang") + "/" + params().get<std::string>("tone"));
    return "";
  }
};

class PerLanguage : public ptl::BatchFlow {
 public:
  using BatchFlow::BatchFlow;

 protected:
  std::vector<ptl::Params> prep(ptl::Shared&) override {
    return {{{"lang", "fr"}}, {{"lang", "de"}, {"tone", "casual"}}};
  }
};

TEST(FlowGraph, BatchFlowRunsOncePerParamSetWithTheSetOverTheFlowParams) {
  PerLanguage flow(std::make_shared<Remember>());
  flow.set_params({{"lang", "en"}, {"tone", "formal"}});
  ptl::Shared shared;
  flow.run(shared);
  EXPECT_EQ(shared.get<Log>("log"), (Log{"fr/formal", "de/casual"}));
}

TEST(FlowGraph, AFlowIsANodeOfAnotherFlow) {
  auto inner_start = std::make_shared<Step>("inner");
  auto inner = std::make_shared<ptl::Flow>(inner_start);
  auto after = std::make_shared<Step>("after");
  (inner - "next") >> after;
  ptl::Flow outer(inner);
  ptl::Shared shared;
  shared.set("go", "next");
  outer.run(shared);
  EXPECT_EQ(shared.get<Log>("log"), (Log{"inner.prep", "inner.post(inner,inner!)", "after.prep",
                                         "after.post(after,after!)"}));
}

}  // namespace
