// SPDX-License-Identifier: MIT
// ptl_asio.hpp - Boost.Asio support for ptl.hpp: ptl::async_acquire and an error category
// for PTL status codes. Include it where you wait asynchronously (it includes ptl.hpp);
// needs Boost >= 1.74, header-only. PTL_HAS_ASIO is 1 once it is included.
//
//   ptl::async_acquire(lim, [](boost::system::error_code ec, ptl::Permit p) { ... });
//   ptl::Permit p = co_await ptl::async_acquire(lim, boost::asio::use_awaitable);
//   std::future<ptl::Permit> f = ptl::async_acquire(lim, 1, 5s, boost::asio::use_future);
//   ptl::Permit p = co_await ptl::async_acquire(lim, {{"tokens", 1200}}, 30s, use_awaitable);
//
// Completion: the handler always runs through its associated executor (posted, never
// inline in async_acquire nor on the library thread that freed capacity), and that
// executor counts as having work while the acquire is pending. Outcomes other than a grant
// arrive as error codes of ptl::error_category() (timed_out, cancelled, closed, ...); a
// handler destroyed without being run releases the permit it would have received.
//
// Cancellation: with Boost >= 1.77, an operation whose handler has an associated
// cancellation slot (bind_cancellation_slot, awaitable operators, parallel_group) is
// cancelled through it, completing with ptl::errc::cancelled; cancelling leaves no trace,
// so terminal, partial and total cancellation are all honoured. Boost 1.74 has no
// cancellation slots: there, bound the wait with a timeout instead.
//
// Lifetime: as with any Asio operation, keep the executor's execution context alive until
// pending acquires complete (they hold work on it).
#pragma once

#include <pocketflow_throttled/ptl.hpp>

#include <boost/version.hpp>
#if BOOST_VERSION < 107400
#error "ptl_asio.hpp needs Boost 1.74 or newer"
#endif
// Code written when ptl.hpp included this file tests this macro; it still tells the truth.
#define PTL_HAS_ASIO 1

#include <atomic>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/error_code.hpp>

#if __has_include(<boost/asio/associated_cancellation_slot.hpp>)
#include <boost/asio/associated_cancellation_slot.hpp>
#define PTL_ASIO_HAS_CANCELLATION 1
#else
#define PTL_ASIO_HAS_CANCELLATION 0
#endif

namespace ptl {

// The PTL status codes as an error-code enum of ptl::error_category().
enum class errc : int {
  invalid_argument = PTL_EINVAL,
  not_found = PTL_ENOTFOUND,
  exists = PTL_EEXIST,
  timed_out = PTL_ETIMEDOUT,
  would_block = PTL_EAGAIN,
  cancelled = PTL_ECANCELED,
  canceled [[deprecated("use cancelled")]] = PTL_ECANCELED,  // PTL_ECANCELED's spelling
  backend = PTL_EBACKEND,
  closed = PTL_ECLOSED,
  no_memory = PTL_ENOMEM,
  rate_limited = PTL_ERATELIMITED,
  internal = PTL_EINTERNAL,
};

namespace detail {

class ErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "ptl"; }
  std::string message(int ev) const override {
    switch (ev) {
      case PTL_EINVAL:
        return "invalid argument or configuration";
      case PTL_ENOTFOUND:
        return "no such limiter, ticket or entry";
      case PTL_EEXIST:
        return "a limiter of that name exists already";
      case PTL_ETIMEDOUT:
        return "timed out before a permit was granted";
      case PTL_EAGAIN:
        return "no capacity now";
      case PTL_ECANCELED:
        return "the acquire was cancelled";
      case PTL_EBACKEND:
        return "shared-memory or Redis backend failure";
      case PTL_ECLOSED:
        return "the limiter or registry was closed";
      case PTL_ENOMEM:
        return "out of memory";
      case PTL_ERATELIMITED:
        return "the upstream API rate limit was hit";
      case PTL_EINTERNAL:
        return "internal error in pocketflow-throttled";
      default:
        return ptl_status_name(ev);
    }
  }
  // Lets generic code test `ec == boost::system::errc::operation_canceled` and the like.
  boost::system::error_condition default_error_condition(int ev) const noexcept override {
    namespace se = boost::system::errc;
    switch (ev) {
      case PTL_EINVAL:
        return se::make_error_condition(se::invalid_argument);
      case PTL_ENOTFOUND:
        return se::make_error_condition(se::no_such_file_or_directory);
      case PTL_EEXIST:
        return se::make_error_condition(se::file_exists);
      case PTL_ETIMEDOUT:
        return se::make_error_condition(se::timed_out);
      case PTL_EAGAIN:
        return se::make_error_condition(se::resource_unavailable_try_again);
      case PTL_ECANCELED:
        return se::make_error_condition(se::operation_canceled);
      case PTL_ENOMEM:
        return se::make_error_condition(se::not_enough_memory);
      default:
        return {ev, *this};
    }
  }
};

}  // namespace detail

// The category of every error code this library produces; its name is "ptl".
inline const boost::system::error_category& error_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}
// The error code of `e`.
inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}
// The error code of a PTL status; PTL_OK gives the empty (success) code.
inline boost::system::error_code make_error_code(int status) noexcept {
  return status == PTL_OK ? boost::system::error_code()
                          : make_error_code(static_cast<errc>(status));
}

}  // namespace ptl

template <>
struct boost::system::is_error_code_enum<ptl::errc> : std::true_type {};

namespace ptl {
namespace detail {

// One pending async_acquire. It completes when two parties have arrived: the library's
// callback (which may run inline, on a releasing thread or on the timer thread) and the
// initiating thread once it has finished its setup, which may need the op to stay alive.
template <class Handler>
class AcquireOp {
 public:
  using Executor = boost::asio::associated_executor_t<Handler, boost::asio::system_executor>;

  AcquireOp(Handler&& h, Limiter lim)
      : handler_(std::move(h)),
        work_(boost::asio::get_associated_executor(handler_, boost::asio::system_executor())),
        lim_(std::move(lim)) {}

  // `start_async(lim, fn, user, ticket)` starts the library's acquire (ptl_acquire_async or
  // ptl_acquire_amounts_async) and returns its status; it must not throw.
  template <class StartAsync>
  static void start(std::unique_ptr<AcquireOp> owner, const StartAsync& start_async) {
    AcquireOp* op = owner.release();  // from here on, the last to arrive owns it
    std::uint64_t ticket = 0;
    const int rc =
        start_async(op->lim_.native_handle(), &AcquireOp::on_done, static_cast<void*>(op), &ticket);
    if (rc != PTL_OK) {
      op->status_ = rc;  // the library never calls back after refusing to start
      op->arrive();
    } else {
      op->connect_cancellation(ticket);
    }
    op->arrive();
  }

 private:
  // Holds its own limiter reference instead of pointing into the op: a context torn down
  // with the completion still queued never clears the slot, which then outlives the op.
  struct Canceller {
    Limiter lim;
    std::uint64_t ticket;
    template <class Type>
    void operator()(Type) const noexcept {
      ptl_cancel(lim.native_handle(), ticket);  // PTL_ENOTFOUND once completed: harmless
    }
  };

  void connect_cancellation([[maybe_unused]] std::uint64_t ticket) noexcept {
#if PTL_ASIO_HAS_CANCELLATION
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (!slot.is_connected()) return;
    try {
      slot.template emplace<Canceller>(Canceller{lim_, ticket});
      slot_used_ = true;
    } catch (...) {
      ptl_cancel(lim_.native_handle(), ticket);  // cannot be cancellable: end it as cancelled
    }
#endif
  }

  static void on_done(void* user, int status, ptl_permit permit) noexcept {
    auto* op = static_cast<AcquireOp*>(user);
    op->status_ = status;
    if (permit != 0) op->permit_ = Permit::adopt(op->lim_, permit);
    op->arrive();
  }

  void arrive() {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // Posted even when the library answered inline: the handler must not run inside
    // async_acquire, nor on a library thread. A destroyed, unrun completion frees the op.
    // `hold` keeps run() from returning (and the context from being destroyed) while post()
    // is still signalling it from this thread, which may be one the user does not control.
    const boost::asio::executor_work_guard<Executor> hold(work_.get_executor());
    boost::asio::post(hold.get_executor(), [op = std::unique_ptr<AcquireOp>(this)]() mutable {
      AcquireOp::complete(std::move(op));
    });
  }

  static void complete(std::unique_ptr<AcquireOp> op) {
#if PTL_ASIO_HAS_CANCELLATION
    if (op->slot_used_) boost::asio::get_associated_cancellation_slot(op->handler_).clear();
#endif
    Handler handler(std::move(op->handler_));
    const boost::system::error_code ec = make_error_code(op->status_);
    Permit permit = std::move(op->permit_);
    op.reset();  // free the op (and its work) before the upcall, as Asio operations do
    std::move(handler)(ec, std::move(permit));
  }

  Handler handler_;
  boost::asio::executor_work_guard<Executor> work_;
  Limiter lim_;
  Permit permit_;
  int status_ = PTL_OK;
  std::atomic<int> pending_{2};
  bool slot_used_ = false;
};

struct AcquireInitiation {
  template <class Handler>
  void operator()(Handler&& handler, const Limiter& lim, std::uint64_t cost,
                  std::int64_t timeout) const {
    using Op = AcquireOp<std::decay_t<Handler>>;
    Op::start(std::make_unique<Op>(std::forward<Handler>(handler), lim),
              [&](ptl_limiter* l, ptl_acquire_fn fn, void* user, std::uint64_t* ticket) {
                return ptl_acquire_async(l, cost, timeout, fn, user, ticket);
              });
  }
};

// The amounts are owned here (a deferred token runs the initiation later), and copied by
// the library before ptl_acquire_amounts_async returns.
struct AmountsAcquireInitiation {
  template <class Handler>
  void operator()(Handler&& handler, const Limiter& lim, const std::vector<Amount>& amounts,
                  std::int64_t timeout) const {
    using Op = AcquireOp<std::decay_t<Handler>>;
    Op::start(std::make_unique<Op>(std::forward<Handler>(handler), lim),
              [&](ptl_limiter* l, ptl_acquire_fn fn, void* user, std::uint64_t* ticket) {
                try {
                  const CAmounts a(amounts);
                  return ptl_acquire_amounts_async(l, a.data(), a.size(), timeout, fn, user,
                                                   ticket);
                } catch (const Error& e) {  // a unit with a NUL byte: completes as invalid
                  return e.status();
                } catch (...) {
                  return PTL_ENOMEM;
                }
              });
  }
};

}  // namespace detail

// The completion signature of every async_acquire: a permit, or why there is none.
using AcquireSignature = void(boost::system::error_code, Permit);

// Waits asynchronously, as long as needed, for a permit of `cost` units; completes with
// an empty error code and the permit, or an error of ptl::error_category() and no permit.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(AcquireSignature) CompletionToken>
auto async_acquire(const Limiter& lim, std::uint64_t cost, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, AcquireSignature>(
      detail::AcquireInitiation{}, token, lim, cost, std::int64_t{-1});
}

// async_acquire of cost 1.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(AcquireSignature) CompletionToken>
auto async_acquire(const Limiter& lim, CompletionToken&& token) {
  return async_acquire(lim, std::uint64_t{1}, std::forward<CompletionToken>(token));
}

// async_acquire that gives up after `timeout` with ptl::errc::timed_out (a timeout <= 0
// tries once and fails with ptl::errc::would_block).
template <class Rep, class Period,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(AcquireSignature) CompletionToken>
auto async_acquire(const Limiter& lim, std::uint64_t cost,
                   std::chrono::duration<Rep, Period> timeout, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, AcquireSignature>(
      detail::AcquireInitiation{}, token, lim, cost, detail::timeout_ns(timeout));
}

// The timed async_acquire of cost 1.
template <class Rep, class Period,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(AcquireSignature) CompletionToken>
auto async_acquire(const Limiter& lim, std::chrono::duration<Rep, Period> timeout,
                   CompletionToken&& token) {
  return async_acquire(lim, std::uint64_t{1}, timeout, std::forward<CompletionToken>(token));
}

// Waits asynchronously, as long as needed, for a permit of `amounts` by unit (see
// ptl_policy.hpp), e.g. {{"tokens", 1200}}; completes as the async_acquire above.
template <BOOST_ASIO_COMPLETION_TOKEN_FOR(AcquireSignature) CompletionToken>
auto async_acquire(const Limiter& lim, Amounts amounts, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, AcquireSignature>(
      detail::AmountsAcquireInitiation{}, token, lim,
      std::vector<Amount>(amounts.begin(), amounts.end()), std::int64_t{-1});
}

// async_acquire of `amounts` that gives up after `timeout` with ptl::errc::timed_out (a
// timeout <= 0 tries once and fails with ptl::errc::would_block).
template <class Rep, class Period,
          BOOST_ASIO_COMPLETION_TOKEN_FOR(AcquireSignature) CompletionToken>
auto async_acquire(const Limiter& lim, Amounts amounts, std::chrono::duration<Rep, Period> timeout,
                   CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, AcquireSignature>(
      detail::AmountsAcquireInitiation{}, token, lim,
      std::vector<Amount>(amounts.begin(), amounts.end()), detail::timeout_ns(timeout));
}

}  // namespace ptl
