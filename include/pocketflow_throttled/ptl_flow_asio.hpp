// SPDX-License-Identifier: MIT
// ptl_flow_asio.hpp - the graph's coroutine forms on Boost.Asio (>= 1.74): AsyncNode,
// AsyncFlow, and a throttled parallel batch node and flow whose items run as coroutines on
// the caller's executor, with no thread per item.
//
//   class Fetch : public ptl::AsyncThrottledParallelBatchNode<std::string, std::string> {
//    protected:
//     ptl::Awaitable<std::vector<std::string>> prep_async(ptl::Shared& s) override { ... }
//     ptl::Awaitable<std::string> exec_async(const std::string& url) const override {
//       co_return co_await http_get(url);
//     }
//   };
//   ptl::AsyncFlow flow(std::make_shared<Fetch>());
//   boost::asio::co_spawn(io, flow.run_async(shared), boost::asio::detached);
//
// How items run: the batch's start callback (on whichever thread made the grant) co_spawns
// the item onto the executor the node was awaited on; the item's end is reported with
// ptl_batch_complete; the batch's done callback posts the awaiting coroutine's resumption
// to its executor. The executor holds work while a batch is pending, so run() does not
// return while items wait for a grant. Keep the execution context running until the flow
// completes: a context destroyed with a batch pending leaves that batch unfinished.
// Sync nodes may sit in an AsyncFlow too; they run inline, blocking the executor's thread.
#pragma once

#include <pocketflow_throttled/ptl_asio.hpp>
#include <pocketflow_throttled/ptl_flow.hpp>

#if !defined(BOOST_ASIO_HAS_CO_AWAIT)
// Boost 1.74 does not detect clang's coroutines with libstdc++, although they work: there,
// define BOOST_ASIO_HAS_CO_AWAIT and BOOST_ASIO_HAS_STD_COROUTINE before any Boost header.
#error "ptl_flow_asio.hpp needs Boost.Asio's coroutines (C++20), which Boost.Asio did not detect"
#endif

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ptl {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

namespace detail {
struct AsyncAccess;
}  // namespace detail

// What runs as a coroutine inside an AsyncFlow.
class AsyncRunnable {
 public:
  virtual ~AsyncRunnable() = default;

 protected:
  AsyncRunnable() = default;
  AsyncRunnable(const AsyncRunnable&) = default;
  AsyncRunnable& operator=(const AsyncRunnable&) = default;
  // One run: prep_async, exec_async, post_async for a node; the graph for a flow.
  virtual Awaitable<std::string> run_once_async(Shared& shared) = 0;

 private:
  friend struct detail::AsyncAccess;
};

namespace detail {

struct AsyncAccess {
  static Awaitable<std::string> run(AsyncRunnable& node, Shared& shared) {
    return node.run_once_async(shared);
  }
};

inline std::string action_name(std::string action) {
  if (action.empty()) return "default";
  return action;  // moved, as a parameter returned by name
}

[[noreturn]] inline void throw_needs_run_async() {
  throw Error(PTL_EINVAL, "an async node or flow runs in an AsyncFlow, or with run_async()");
}

// Waits `d` on the current coroutine's executor.
inline Awaitable<void> sleep_for(std::chrono::nanoseconds d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, d);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

// A one-shot event set from any thread and awaited by one coroutine, which resumes on its
// own executor. Holds work on that executor until it fires.
class Latch {
 public:
  explicit Latch(const boost::asio::any_io_executor& ex) : work_(ex) {}

  void fire() {
    std::unique_ptr<Waiter> w;
    {
      const std::lock_guard lock(mu_);
      fired_ = true;
      w = std::move(waiter_);
    }
    if (w) w->post();
    work_.reset();
  }

  Awaitable<void> wait() {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void()>(
        [this](auto handler) {
          auto w = std::make_unique<WaiterOf<decltype(handler)>>(std::move(handler),
                                                                 work_.get_executor());
          std::unique_lock lock(mu_);
          if (fired_) {
            lock.unlock();
            w->post();  // posted, never run inside the initiation
          } else {
            waiter_ = std::move(w);
          }
        },
        boost::asio::use_awaitable);
  }

 private:
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void post() = 0;
  };
  template <class Handler>
  struct WaiterOf final : Waiter {
    WaiterOf(Handler&& h, boost::asio::any_io_executor fallback)
        : handler(std::move(h)), ex(std::move(fallback)) {}
    void post() override {
      auto target = boost::asio::get_associated_executor(handler, ex);
      boost::asio::post(target, std::move(handler));
    }
    Handler handler;
    boost::asio::any_io_executor ex;
  };

  std::mutex mu_;
  bool fired_ = false;
  std::unique_ptr<Waiter> waiter_;
  boost::asio::executor_work_guard<boost::asio::any_io_executor> work_;
};

// How a coroutine batch ended.
struct BatchEnd {
  BatchStats stats;
  std::vector<int> statuses;
};

// Runs `n` items as coroutines under `options`: item(batch, index, attempt) must return an
// Awaitable<void> that reports the attempt's end with ptl_batch_complete and never throws.
// Returns the batch's statistics and final statuses once every item settled.
// Pass `item` as an lvalue: GCC 12 destroys a class-type prvalue argument of a coroutine
// twice when the call is co_awaited (a lambda capturing a shared_ptr then frees it early).
template <class ItemCoro>
Awaitable<BatchEnd> run_coroutine_batch(const BatchOptions& options, std::size_t n, ItemCoro item) {
  const auto ex = co_await boost::asio::this_coro::executor;
  auto latch = std::make_shared<Latch>(ex);
  Batch batch(
      options, n,
      [ex, item](BatchView b, std::size_t i, std::uint32_t attempt) {
        boost::asio::co_spawn(ex, item(b, i, attempt), boost::asio::detached);
      },
      [latch] { latch->fire(); });
  co_await latch->wait();
  co_return BatchEnd{batch.stats(), batch.statuses()};
}

}  // namespace detail

// PocketFlow's AsyncNode: prep_async -> exec_async (retried, wait apart) -> post_async.
template <class Prep = std::monostate, class Exec = std::monostate>
class AsyncNode : public BaseNode, public AsyncRunnable {
 public:
  int max_retries = 1;
  std::chrono::nanoseconds wait{0};

  // Runs this node alone (successors are not followed: use an AsyncFlow).
  Awaitable<std::string> run_async(Shared& shared) {
    if (has_successors()) detail::warn("Node won't run successors. Use AsyncFlow.");
    co_return detail::action_name(co_await run_once_async(shared));
  }

 protected:
  virtual Awaitable<Prep> prep_async(Shared& /*shared*/) {
    co_return detail::value_or_throw<Prep>("AsyncNode::prep_async");
  }
  virtual Awaitable<Exec> exec_async(const Prep& /*prep_res*/) {
    co_return detail::value_or_throw<Exec>("AsyncNode::exec_async");
  }
  virtual Awaitable<Exec> exec_fallback_async(const Prep& /*prep_res*/, std::exception_ptr error) {
    std::rethrow_exception(std::move(error));
  }
  virtual Awaitable<std::string> post_async(Shared& /*shared*/, Prep& /*prep_res*/,
                                            Exec& /*exec_res*/) {
    co_return "default";
  }

  std::string run_once(Shared& /*shared*/) override { detail::throw_needs_run_async(); }
  Awaitable<std::string> run_once_async(Shared& shared) override {
    Prep p = co_await prep_async(shared);
    Exec e = co_await exec_with_retries(p);
    co_return co_await post_async(shared, p, e);
  }

 private:
  // No co_await may sit in a handler, so the failure is carried out of it.
  Awaitable<Exec> exec_with_retries(const Prep& p) {
    const int attempts = max_retries < 1 ? 1 : max_retries;
    for (int i = 0;; ++i) {
      std::exception_ptr error;
      try {
        co_return co_await exec_async(p);
      } catch (...) {
        error = std::current_exception();
      }
      if (i + 1 >= attempts) co_return co_await exec_fallback_async(p, error);
      if (wait > wait.zero()) co_await detail::sleep_for(wait);
    }
  }
};

// What AsyncFlow and the async batch flow share: the walk through the graph, awaiting
// async nodes and running sync ones inline.
class AsyncFlowBase : public FlowBase, public AsyncRunnable {
 protected:
  AsyncFlowBase() = default;
  template <class T>
  explicit AsyncFlowBase(std::shared_ptr<T> start_node) : FlowBase(std::move(start_node)) {}

  std::string run_once(Shared& /*shared*/) override { detail::throw_needs_run_async(); }

  Awaitable<std::string> orchestrate_async(Shared& shared, Params params, RunContext ctx) const {
    std::string last;
    for (std::shared_ptr<BaseNode> node = start_copy(); node;
         node = detail::NodeAccess::next_copy(*node, last)) {
      detail::NodeAccess::prepare(*node, params, ctx);
      if (auto* async = dynamic_cast<AsyncRunnable*>(node.get()))
        last = detail::action_name(co_await detail::AsyncAccess::run(*async, shared));
      else
        last = detail::NodeAccess::run(*node, shared);
    }
    co_return last;
  }
};

// PocketFlow's AsyncFlow: prep_async, the graph once with the flow's params, post_async.
class AsyncFlow : public AsyncFlowBase {
 public:
  AsyncFlow() = default;
  template <std::derived_from<BaseNode> T>
  explicit AsyncFlow(std::shared_ptr<T> start_node) : AsyncFlowBase(std::move(start_node)) {}

  Awaitable<std::string> run_async(Shared& shared) {
    co_return detail::action_name(co_await run_once_async(shared));
  }

 protected:
  virtual Awaitable<void> prep_async(Shared& /*shared*/) { co_return; }
  virtual Awaitable<std::string> post_async(Shared& /*shared*/, std::string last_action) {
    co_return last_action;
  }

  Awaitable<std::string> run_once_async(Shared& shared) override {
    co_await prep_async(shared);
    std::string last = co_await orchestrate_async(shared, params(), context());
    co_return co_await post_async(shared, std::move(last));
  }
};

}  // namespace ptl

#include <pocketflow_throttled/ptl_flow_asio_throttled.hpp>
