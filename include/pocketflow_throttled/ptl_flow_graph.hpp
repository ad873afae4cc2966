// SPDX-License-Identifier: MIT
// ptl_flow_graph.hpp - PocketFlow's graph in C++: nodes wired by actions, copied per visit.
// Included by ptl_flow.hpp; see docs/adr/0007-cpp-graph.md.
//
//   auto load = std::make_shared<Load>();
//   auto check = std::make_shared<Check>();
//   load >> check;                 // the "default" action
//   check - "retry" >> load;       // a named action
//   ptl::Flow flow(load);
//   ptl::Shared shared;
//   flow.run(shared);
//
// Copy per visit: a flow runs a *copy* of each node it visits, made from the concrete type
// captured when the node was wired (Flow(start), >>, next()), as PocketFlow copies nodes.
// So flow instances running in parallel never share a node's params or run context. State
// that copies should share (adaptive learning, statistics) lives behind a shared_ptr.
#pragma once

#include <pocketflow_throttled/ptl_flow_store.hpp>

#include <concepts>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace ptl {

// Where a node copy runs: the throttled batch flow instance it is part of (a null batch
// outside one). Set on the copy by the flow, so parallel instances never see each other's.
struct RunContext {
  ptl_batch* batch = nullptr;  // the flow's running batch
  std::size_t index = 0;       // this instance's index in it
};

class BaseNode;

namespace detail {

// A wired node: the prototype the user built and how to copy it as its concrete type. An
// edge that closes a cycle (a loop back to an earlier node) holds its prototype weakly: with
// shared_ptr everywhere a loop would never be freed. Strong edges thus form a DAG, and the
// target of a weak edge is an ancestor, alive through the strong edges or the flow.
struct Wired {
  std::shared_ptr<BaseNode> strong;
  std::weak_ptr<BaseNode> weak;
  std::shared_ptr<BaseNode> (*clone)(const BaseNode&) = nullptr;

  explicit operator bool() const noexcept { return clone != nullptr; }
  std::shared_ptr<BaseNode> get() const { return strong ? strong : weak.lock(); }
  // A fresh copy of the prototype, or null if a weakly held one is gone.
  std::shared_ptr<BaseNode> copy() const {
    const std::shared_ptr<BaseNode> p = get();
    return p ? clone(*p) : nullptr;
  }
  void make_weak() {
    weak = strong;
    strong.reset();
  }
};

template <class T>
std::shared_ptr<BaseNode> clone_as(const BaseNode& node) {
  return std::make_shared<T>(static_cast<const T&>(node));
}

// Captures T, the type a node is wired as, for copies. T must be the node's dynamic type:
// copying a Derived as its Base would slice it.
template <class T>
Wired wire(std::shared_ptr<T> node) {
  static_assert(!std::is_abstract_v<T>,
                "ptl: a node is wired as the type it is copied as, once per flow visit; this "
                "type is abstract. Pass std::shared_ptr<YourConcreteNode>.");
  static_assert(std::is_copy_constructible_v<T>,
                "ptl: flows copy each node they visit (PocketFlow's copy.copy), so a node type "
                "must be copy-constructible. Keep non-copyable state behind a shared_ptr.");
  if (!node) throw Error(PTL_EINVAL, "wiring a null node");
  const T& dynamic = *node;  // T is polymorphic: typeid gives the dynamic type
  if (typeid(dynamic) != typeid(T))
    throw Error(PTL_EINVAL, std::string("a node of dynamic type ") + typeid(dynamic).name() +
                                " is wired as " + typeid(T).name() +
                                ", which would slice its copies; wire it as its own type");
  return {std::move(node), {}, &clone_as<T>};
}

struct NodeAccess;

}  // namespace detail

// What every node and flow is: params, successors by action, and one run.
class BaseNode {
 public:
  virtual ~BaseNode() = default;

  // Replaces the params (a flow sets them on each node copy it runs).
  void set_params(Params params) { params_ = std::move(params); }
  const Params& params() const noexcept { return params_; }

  // Makes `node` the successor for `action` (warns when replacing one); returns `node`.
  // Wire a graph from one thread, before running it.
  template <std::derived_from<BaseNode> T>
  std::shared_ptr<T> next(std::shared_ptr<T> node, std::string action = "default") {
    detail::Wired w = detail::wire(node);
    if (strongly_reaches(*w.strong, this)) w.make_weak();  // the edge closes a cycle
    if (successors_.count(action) != 0)
      detail::warn("Overwriting successor for action '" + action + "'");
    successors_.insert_or_assign(std::move(action), std::move(w));
    return node;
  }
  bool has_successors() const noexcept { return !successors_.empty(); }

  // Runs this node alone and returns its action. Successors are not followed: use a Flow.
  std::string run(Shared& shared) {
    if (!successors_.empty()) detail::warn("Node won't run successors. Use Flow.");
    return run_and_name(shared);
  }

 protected:
  BaseNode() = default;
  // Protected: only a concrete node's own copy constructor copies a BaseNode (no slicing).
  BaseNode(const BaseNode&) = default;
  BaseNode& operator=(const BaseNode&) = default;

  // One run: PocketFlow's _run (prep, exec, post for a node; the graph for a flow).
  virtual std::string run_once(Shared& shared) = 0;
  // The throttled batch flow instance this copy runs in, if any.
  const RunContext& context() const noexcept { return context_; }

 private:
  friend struct detail::NodeAccess;

  std::string run_and_name(Shared& shared) {
    std::string action = run_once(shared);
    return action.empty() ? std::string("default") : action;
  }

  // Whether `target` is `from` or lies after it on strong edges.
  static bool strongly_reaches(const BaseNode& from, const BaseNode* target) {
    std::vector<const BaseNode*> todo{&from};
    std::set<const BaseNode*> seen;
    while (!todo.empty()) {
      const BaseNode* n = todo.back();
      todo.pop_back();
      if (n == target) return true;
      if (!seen.insert(n).second) continue;
      for (const auto& [action, w] : n->successors_)
        if (w.strong) todo.push_back(w.strong.get());
    }
    return false;
  }

  Params params_;
  std::map<std::string, detail::Wired, std::less<>> successors_;
  RunContext context_;
};

namespace detail {

// The flows' access to a node copy; nothing else touches these members.
struct NodeAccess {
  static void prepare(BaseNode& node, Params params, RunContext ctx) {
    node.params_ = std::move(params);
    node.context_ = ctx;
  }
  static std::string run(BaseNode& node, Shared& shared) { return node.run_and_name(shared); }
  static const RunContext& context(const BaseNode& node) { return node.context_; }
  // Every node reachable from `start`, on strong and weak edges (a flow keeps them alive).
  static std::vector<std::shared_ptr<BaseNode>> reachable(std::shared_ptr<BaseNode> start) {
    std::vector<std::shared_ptr<BaseNode>> out;
    std::vector<std::shared_ptr<BaseNode>> todo{std::move(start)};
    std::set<const BaseNode*> seen;
    while (!todo.empty()) {
      std::shared_ptr<BaseNode> n = std::move(todo.back());
      todo.pop_back();
      if (!n || !seen.insert(n.get()).second) continue;
      for (const auto& [action, w] : n->successors_) todo.push_back(w.get());
      out.push_back(std::move(n));
    }
    return out;
  }
  // A fresh copy of the successor for `action`, or null (with PocketFlow's warning when the
  // node has successors but none for this action).
  static std::shared_ptr<BaseNode> next_copy(const BaseNode& node, const std::string& action) {
    const auto it = node.successors_.find(action);
    if (it != node.successors_.end()) {
      std::shared_ptr<BaseNode> next = it->second.copy();
      if (!next)
        warn("Flow ends: the node for '" + action +
             "' was destroyed (wire nodes before creating the flow, or keep them alive)");
      return next;
    }
    if (!node.successors_.empty()) {
      std::string names;
      for (const auto& [name, w] : node.successors_)
        names += (names.empty() ? "'" : ", '") + name + "'";
      warn("Flow ends: '" + action + "' not found in [" + names + "]");
    }
    return nullptr;
  }
};

}  // namespace detail

// The one transition of `node - "action" >> next`.
class Transition {
 public:
  Transition(std::shared_ptr<BaseNode> src, std::string action)
      : src_(std::move(src)), action_(std::move(action)) {}
  template <std::derived_from<BaseNode> T>
  std::shared_ptr<T> operator>>(std::shared_ptr<T> target) && {
    return src_->next(std::move(target), std::move(action_));
  }

 private:
  std::shared_ptr<BaseNode> src_;
  std::string action_;
};

// a >> b: b follows a on the "default" action; returns b so chains read left to right.
// (Found by ADL: user node types derive from ptl::BaseNode.)
template <std::derived_from<BaseNode> A, std::derived_from<BaseNode> B>
std::shared_ptr<B> operator>>(const std::shared_ptr<A>& a, std::shared_ptr<B> b) {
  if (!a) throw Error(PTL_EINVAL, "wiring from a null node");
  return a->next(std::move(b));
}

// a - "action" >> b: b follows a on `action`.
template <std::derived_from<BaseNode> A>
Transition operator-(const std::shared_ptr<A>& a, std::string action) {
  if (!a) throw Error(PTL_EINVAL, "wiring from a null node");
  return Transition(a, std::move(action));
}

}  // namespace ptl
