// SPDX-License-Identifier: MIT
// ptl_flow_nodes.hpp - PocketFlow's Node, BatchNode, Flow and BatchFlow. Included by
// ptl_flow.hpp.
//
//   class Summarize : public ptl::Node<std::string, std::string> {
//    protected:
//     std::string prep(ptl::Shared& s) override { return s.get<std::string>("text"); }
//     std::string exec(const std::string& text) override { return call_llm(text); }
//     std::string post(ptl::Shared& s, std::string&, std::string& summary) override {
//       s.set("summary", summary);
//       return "default";
//     }
//   };
#pragma once

#include <pocketflow_throttled/ptl_flow_graph.hpp>

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ptl {

namespace detail {

// PocketFlow's retry loop: up to `max_retries` attempts of `attempt`, `wait` apart, then
// `fallback` with the last exception. `cur` tells the running attempt (0-based).
template <class Attempt, class Fallback>
auto with_retries(int max_retries, std::chrono::nanoseconds wait, int& cur, Attempt&& attempt,
                  Fallback&& fallback) {
  const int attempts = max_retries < 1 ? 1 : max_retries;
  for (cur = 0;; ++cur) {
    try {
      return attempt();
    } catch (...) {
      if (cur + 1 >= attempts) return fallback(std::current_exception());
    }
    if (wait > wait.zero()) std::this_thread::sleep_for(wait);
  }
}

// T{} for the default prep/exec, which PocketFlow lets return None.
template <class T>
T value_or_throw(const char* what) {
  if constexpr (std::is_default_constructible_v<T>)
    return T{};
  else
    throw Error(PTL_EINVAL, std::string(what) + " is not overridden and its type has no default");
}

}  // namespace detail

// A node: prep(shared) -> exec(prep_res), retried -> post(shared, prep_res, exec_res), which
// returns the action naming the successor ("" means "default").
template <class Prep = std::monostate, class Exec = std::monostate>
class Node : public BaseNode {
 public:
  int max_retries = 1;               // attempts in all (PocketFlow's meaning), >= 1
  std::chrono::nanoseconds wait{0};  // between attempts

  explicit Node(int retries = 1, std::chrono::nanoseconds wait_between = {})
      : max_retries(retries), wait(wait_between) {}

  // The running attempt of exec, from 0 (PocketFlow's cur_retry).
  int cur_retry() const noexcept { return cur_retry_; }

 protected:
  virtual Prep prep(Shared& /*shared*/) { return detail::value_or_throw<Prep>("Node::prep"); }
  virtual Exec exec(const Prep& /*prep_res*/) { return detail::value_or_throw<Exec>("Node::exec"); }
  // Called after the last failed attempt; its result stands for exec's. Default: rethrow.
  virtual Exec exec_fallback(const Prep& /*prep_res*/, std::exception_ptr error) {
    std::rethrow_exception(std::move(error));
  }
  virtual std::string post(Shared& /*shared*/, Prep& /*prep_res*/, Exec& /*exec_res*/) {
    return "default";
  }

  std::string run_once(Shared& shared) override {
    Prep p = prep(shared);
    Exec e = detail::with_retries(
        max_retries, wait, cur_retry_, [&] { return exec(p); },
        [&](std::exception_ptr error) { return exec_fallback(p, error); });
    return post(shared, p, e);
  }

 private:
  int cur_retry_ = 0;
};

// A batch node: prep returns the items, exec runs once per item (with retries) in order, and
// post receives the results in the items' order.
template <class Item, class Result>
class BatchNode : public BaseNode {
 public:
  int max_retries = 1;
  std::chrono::nanoseconds wait{0};

  explicit BatchNode(int retries = 1, std::chrono::nanoseconds wait_between = {})
      : max_retries(retries), wait(wait_between) {}

  int cur_retry() const noexcept { return cur_retry_; }

 protected:
  virtual std::vector<Item> prep(Shared& /*shared*/) { return {}; }
  virtual Result exec(const Item& item) = 0;
  virtual Result exec_fallback(const Item& /*item*/, std::exception_ptr error) {
    std::rethrow_exception(std::move(error));
  }
  virtual std::string post(Shared& /*shared*/, std::vector<Item>& /*items*/,
                           std::vector<Result>& /*results*/) {
    return "default";
  }

  std::string run_once(Shared& shared) override {
    std::vector<Item> items = prep(shared);
    std::vector<Result> results;
    results.reserve(items.size());
    for (const Item& item : items) {
      results.push_back(detail::with_retries(
          max_retries, wait, cur_retry_, [&] { return exec(item); },
          [&](std::exception_ptr error) { return exec_fallback(item, error); }));
    }
    return post(shared, items, results);
  }

 private:
  int cur_retry_ = 0;
};

// What every flow has: a start node and the walk through the graph (PocketFlow's _orch).
// The flow holds every node reachable from its start when it is given one, so the nodes of a
// loop (wired weakly, see detail::Wired) live as long as the flow.
class FlowBase : public BaseNode {
 public:
  // Sets the start node; returns it.
  template <std::derived_from<BaseNode> T>
  std::shared_ptr<T> start(std::shared_ptr<T> node) {
    set_start(detail::wire(node));
    return node;
  }

 protected:
  FlowBase() = default;
  template <class T>
  explicit FlowBase(std::shared_ptr<T> start_node) {
    set_start(detail::wire(std::move(start_node)));
  }

  // Runs the graph once: each node visited is a fresh copy given `params` and `ctx`, run,
  // and followed by its successor for the action it returned. Returns the last action.
  std::string orchestrate(Shared& shared, const Params& params, const RunContext& ctx) const {
    std::string last;
    for (std::shared_ptr<BaseNode> node = start_copy(); node;
         node = detail::NodeAccess::next_copy(*node, last)) {
      detail::NodeAccess::prepare(*node, params, ctx);
      last = detail::NodeAccess::run(*node, shared);
    }
    return last;
  }

  // A fresh copy of the start node: where each walk through the graph begins.
  std::shared_ptr<BaseNode> start_copy() const {
    if (!start_) throw Error(PTL_EINVAL, "the flow has no start node");
    return start_.copy();
  }

 private:
  void set_start(detail::Wired start) {
    graph_ = std::make_shared<const std::vector<std::shared_ptr<BaseNode>>>(
        detail::NodeAccess::reachable(start.get()));
    start_ = std::move(start);
  }

  detail::Wired start_;
  // Shared by copies of the flow: a nested flow is copied per visit, its graph is not.
  std::shared_ptr<const std::vector<std::shared_ptr<BaseNode>>> graph_;
};

// A flow: prep, the graph once with the flow's params, post (which returns the flow's own
// action, by default the last node's).
class Flow : public FlowBase {
 public:
  Flow() = default;
  template <std::derived_from<BaseNode> T>
  explicit Flow(std::shared_ptr<T> start_node) : FlowBase(std::move(start_node)) {}

 protected:
  virtual void prep(Shared& /*shared*/) {}
  virtual std::string post(Shared& /*shared*/, std::string last_action) { return last_action; }

  std::string run_once(Shared& shared) override {
    prep(shared);
    return post(shared, orchestrate(shared, params(), context()));
  }
};

// A batch flow: prep returns one param set per run of the graph; the runs go one after the
// other, each with {flow params, then the set's} (the set wins).
class BatchFlow : public FlowBase {
 public:
  BatchFlow() = default;
  template <std::derived_from<BaseNode> T>
  explicit BatchFlow(std::shared_ptr<T> start_node) : FlowBase(std::move(start_node)) {}

 protected:
  virtual std::vector<Params> prep(Shared& /*shared*/) { return {}; }
  virtual std::string post(Shared& /*shared*/, std::vector<Params>& /*param_sets*/) {
    return "default";
  }

  std::string run_once(Shared& shared) override {
    std::vector<Params> sets = prep(shared);
    for (const Params& set : sets) orchestrate(shared, params().merged_with(set), context());
    return post(shared, sets);
  }
};

}  // namespace ptl
