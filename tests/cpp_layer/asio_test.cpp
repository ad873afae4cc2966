// SPDX-License-Identifier: MIT
// ptl::async_acquire over Boost.Asio: completion on the handler's executor (never inline),
// callbacks, use_future, use_awaitable, timeouts, cancellation, work tracking, and the
// ptl error category.
#include <gtest/gtest.h>

#include <pocketflow_throttled/ptl_asio.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/version.hpp>

#include <future>
#include <optional>
#include <thread>

#include "cpp_test_util.hpp"

#if PTL_ASIO_HAS_CANCELLATION
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#endif

#if !PTL_HAS_ASIO
#error "ptl_asio.hpp did not define PTL_HAS_ASIO"
#endif

namespace ptl_cpp_test {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using namespace std::chrono_literals;

// What one handler invocation saw.
struct Outcome {
  std::atomic<int> calls{0};
  error_code ec;
  ptl::Permit permit;
  bool on_io_thread = false;
  std::thread::id thread;
};

// A handler bound to `ioc` that records into `out` and checks where it runs.
auto recorder(Outcome& out, asio::io_context& ioc) {
  return asio::bind_executor(ioc, [&out, &ioc](error_code ec, ptl::Permit p) {
    out.ec = ec;
    out.permit = std::move(p);
    out.on_io_thread = ioc.get_executor().running_in_this_thread();
    out.thread = std::this_thread::get_id();
    out.calls.fetch_add(1);
  });
}

TEST(CppAsio, PlainCallbackRunsOnTheSystemExecutorNotInline) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  std::promise<std::thread::id> ran_on;
  ptl::async_acquire(lim, [&](error_code ec, ptl::Permit p) {
    EXPECT_FALSE(ec);
    EXPECT_TRUE(p);
    ran_on.set_value(std::this_thread::get_id());
  });
  // The grant is immediate; running the handler inline would have run it on this thread.
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
  EXPECT_TRUE(wait_until([&] { return lim.stats().in_flight == 0; }));
}

TEST(CppAsio, ImmediateGrantIsPostedNotRunInline) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, recorder(out, ioc));
  EXPECT_EQ(out.calls.load(), 0) << "the handler ran inside async_acquire";
  EXPECT_EQ(lim.stats().in_flight, 1u) << "the grant itself is immediate";
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_TRUE(out.permit);
  EXPECT_TRUE(out.on_io_thread);
  out.permit.release();
  EXPECT_EQ(lim.stats().in_flight, 0u);
}

TEST(CppAsio, PendingAcquireIsGrantedOnReleaseAndKeepsRunAlive) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, recorder(out, ioc));
  // No other work: only the pending acquire keeps run() from returning.
  std::thread io([&] { ioc.run(); });
  const std::thread::id io_id = io.get_id();
  ASSERT_TRUE(wait_waiting(lim, 1));
  EXPECT_EQ(out.calls.load(), 0);
  held.release();  // frees capacity on this (non-io) thread
  io.join();       // returns once the handler ran
  ASSERT_EQ(out.calls.load(), 1) << "run() returned before the acquire completed";
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_TRUE(out.permit);
  EXPECT_TRUE(out.on_io_thread);
  EXPECT_EQ(out.thread, io_id);
  EXPECT_EQ(lim.stats().in_flight, 1u);
}

TEST(CppAsio, CompletesThroughTheHandlersStrand) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  auto strand = asio::make_strand(ioc);
  std::promise<bool> in_strand;
  ptl::async_acquire(lim, asio::bind_executor(strand, [&](error_code ec, ptl::Permit p) {
                       EXPECT_FALSE(ec);
                       EXPECT_TRUE(p);
                       in_strand.set_value(strand.running_in_this_thread());
                     }));
  std::thread io1([&] { ioc.run(); });
  std::thread io2([&] { ioc.run(); });
  ASSERT_TRUE(wait_waiting(lim, 1));
  held.release();
  EXPECT_TRUE(in_strand.get_future().get());
  io1.join();
  io2.join();
  EXPECT_EQ(lim.stats().in_flight, 0u) << "the handler's permit went back when it returned";
}

TEST(CppAsio, GrantFromTheLibraryTimerThreadRunsOnTheIoContext) {
  // A window-blocked waiter is granted by the library's timer thread when the window slides.
  ptl::Limiter lim =
      ptl::Limiter::create({.max_concurrent = 5, .max_per_window = 1, .window_seconds = 0.05});
  lim.acquire().release();
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, recorder(out, ioc));
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_TRUE(out.permit);
  EXPECT_TRUE(out.on_io_thread);
}

TEST(CppAsio, TimeoutCompletesWithTimedOutAndLeavesNoTrace) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, 10ms, recorder(out, ioc));
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_EQ(out.ec, ptl::errc::timed_out);
  EXPECT_EQ(out.ec, boost::system::errc::timed_out) << "the generic condition matches too";
  EXPECT_EQ(&out.ec.category(), &ptl::error_category());
  EXPECT_FALSE(out.permit);
  EXPECT_TRUE(out.on_io_thread);
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.in_flight, 1u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_timeouts, 1u);
}

TEST(CppAsio, ZeroTimeoutTriesOnce) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, 1, 0s, recorder(out, ioc));
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_EQ(out.ec, ptl::errc::would_block);
  EXPECT_FALSE(out.permit);
}

TEST(CppAsio, CostCountsAgainstTheWindow) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 2, .max_cost_per_window = 500});
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, 300, recorder(out, ioc));
  ioc.run();
  ASSERT_FALSE(out.ec) << out.ec.message();
  EXPECT_EQ(lim.stats().current_window_cost, 300u);
  out.permit.release(250);
  EXPECT_EQ(lim.stats().current_window_cost, 250u);

  Outcome too_big;
  ptl::async_acquire(lim, 501, recorder(too_big, ioc));
  ioc.restart();
  ioc.run();
  ASSERT_EQ(too_big.calls.load(), 1);
  EXPECT_EQ(too_big.ec, ptl::errc::invalid_argument);
  EXPECT_TRUE(too_big.on_io_thread) << "a refused start is still reported on the executor";
}

TEST(CppAsio, EmptyLimiterReportsInvalidArgumentThroughTheHandler) {
  asio::io_context ioc;
  Outcome out;
  EXPECT_NO_THROW(ptl::async_acquire(ptl::Limiter(), recorder(out, ioc)));
  EXPECT_EQ(out.calls.load(), 0);
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_EQ(out.ec, ptl::errc::invalid_argument);
  EXPECT_TRUE(out.on_io_thread);
}

TEST(CppAsio, PendingAcquireKeepsItsLimiterAlive) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, recorder(out, ioc));
  lim = ptl::Limiter();  // the caller drops its handle; the operation holds its own
  held.release();
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_TRUE(out.permit);
  EXPECT_NO_THROW(out.permit.release());
}

TEST(CppAsio, UnrunCompletionReleasesItsPermit) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  int calls = 0;
  {
    asio::io_context ioc;
    ptl::async_acquire(lim, asio::bind_executor(ioc, [&](error_code, ptl::Permit) { ++calls; }));
    EXPECT_EQ(lim.stats().in_flight, 1u);
  }  // destroyed without run(): the queued completion and its permit are destroyed
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(lim.stats().in_flight, 0u) << "a permit was leaked";
}

// Returns once the library's timer thread has finished every callback it began before the
// call: it runs callbacks one at a time, so a later timeout there comes after them. A test
// whose completion was posted from that thread to Asio's system executor needs this before it
// ends: Asio signals its condition variable after unlocking, and at exit the system context
// destroys that variable, so the signal must be known to be over (TSan rightly reports it).
void wait_for_timer_thread() {
  ptl::Limiter full = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = full.acquire();
  std::promise<void> passed;
  const int rc = ptl_acquire_async(
      full.native_handle(), 1, 1'000'000,
      [](void* user, int, ptl_permit) { static_cast<std::promise<void>*>(user)->set_value(); },
      &passed, nullptr);
  ASSERT_EQ(rc, PTL_OK);
  passed.get_future().wait();
}

TEST(CppAsio, UseFuture) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  std::future<ptl::Permit> f = ptl::async_acquire(lim, asio::use_future);
  ptl::Permit p = f.get();
  EXPECT_TRUE(p);
  EXPECT_EQ(lim.stats().in_flight, 1u);

  std::future<ptl::Permit> pending = ptl::async_acquire(lim, asio::use_future);
  ASSERT_TRUE(wait_waiting(lim, 1));
  p.release();
  ptl::Permit second = pending.get();
  EXPECT_TRUE(second);

  // The error reaches the future as a value here: std::future's exception path would free
  // the exception on Asio's system thread, through libstdc++'s exception_ptr refcount,
  // which TSan cannot see (a false report). use_awaitable below covers the throwing path.
  std::future<error_code> late = ptl::async_acquire(
      lim, 1, 10ms, asio::use_future([](error_code ec, ptl::Permit) { return ec; }));
  EXPECT_EQ(late.get(), ptl::errc::timed_out);
  wait_for_timer_thread();  // the timeout above was posted from the timer thread
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)  // clang with libstdc++ lacks it in Boost 1.74
TEST(CppAsio, UseAwaitable) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  bool granted = false, timed_out = false, on_io = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        try {
          (void)co_await ptl::async_acquire(lim, 5ms, asio::use_awaitable);
        } catch (const boost::system::system_error& e) {
          timed_out = e.code() == ptl::errc::timed_out;
        }
        ptl::Permit p = co_await ptl::async_acquire(lim, asio::use_awaitable);
        granted = static_cast<bool>(p);
        on_io = ioc.get_executor().running_in_this_thread();
        EXPECT_EQ(lim.stats().in_flight, 1u);
      },
      asio::detached);
  std::thread io([&] { ioc.run(); });
  ASSERT_TRUE(
      wait_until([&] { return lim.stats().total_timeouts == 1 && lim.stats().waiting == 1; }));
  held.release();
  io.join();
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(granted);
  EXPECT_TRUE(on_io);
  EXPECT_EQ(lim.stats().in_flight, 0u) << "the coroutine's permit went back at its end";
}

TEST(CppAsio, ManyCoroutinesNeverExceedMaxConcurrent) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 3});
  asio::io_context ioc;
  InFlightObserver observer;
  std::atomic<int> done{0};
  constexpr int kTasks = 60;
  constexpr int kRounds = 5;
  for (int t = 0; t < kTasks; ++t) {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          for (int i = 0; i < kRounds; ++i) {
            ptl::Permit p = co_await ptl::async_acquire(lim, asio::use_awaitable);
            observer.enter();
            timer.expires_after(100us);  // hold the permit across a suspension
            co_await timer.async_wait(asio::use_awaitable);
            observer.leave();
          }
          done.fetch_add(1);
        },
        asio::detached);
  }
  std::thread io2([&] { ioc.run(); });
  ioc.run();
  io2.join();
  EXPECT_EQ(done.load(), kTasks);
  EXPECT_LE(observer.max(), 3);
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_acquired, static_cast<uint64_t>(kTasks * kRounds));
}

#endif  // BOOST_ASIO_HAS_CO_AWAIT

TEST(CppAsio, ManyCallbacksAcrossThreadsNeverExceedMaxConcurrent) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 2});
  asio::io_context ioc;
  InFlightObserver observer;
  std::atomic<int> completed{0};
  constexpr int kOps = 300;
  for (int i = 0; i < kOps; ++i) {
    ptl::async_acquire(lim, asio::bind_executor(ioc, [&](error_code ec, ptl::Permit p) {
                         EXPECT_FALSE(ec) << ec.message();
                         observer.enter();
                         // Released one hop later, possibly by the other io thread.
                         asio::post(ioc, [&, p = std::move(p)]() mutable {
                           observer.leave();
                           p.release();
                           completed.fetch_add(1);
                         });
                       }));
  }
  std::thread io2([&] { ioc.run(); });
  ioc.run();
  io2.join();
  EXPECT_EQ(completed.load(), kOps);
  EXPECT_LE(observer.max(), 2);
  EXPECT_EQ(lim.stats().in_flight, 0u);
  EXPECT_EQ(lim.stats().total_acquired, static_cast<uint64_t>(kOps));
}

#if PTL_ASIO_HAS_CANCELLATION
TEST(CppAsio, CancellationSlotCancelsAPendingAcquire) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  asio::cancellation_signal signal;
  Outcome out;
  ptl::async_acquire(lim, asio::bind_cancellation_slot(signal.slot(), recorder(out, ioc)));
  ioc.poll();
  ASSERT_EQ(lim.stats().waiting, 1u);
  signal.emit(asio::cancellation_type::terminal);
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_EQ(out.ec, ptl::errc::cancelled);
  EXPECT_EQ(out.ec, boost::system::errc::operation_canceled);
  EXPECT_FALSE(out.permit);
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_cancelled, 1u);
  held.release();
  EXPECT_EQ(lim.stats().in_flight, 0u) << "the cancelled acquire was granted after all";
}

TEST(CppAsio, CancellingAfterCompletionIsHarmless) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  asio::io_context ioc;
  asio::cancellation_signal signal;
  Outcome out;
  ptl::async_acquire(lim, asio::bind_cancellation_slot(signal.slot(), recorder(out, ioc)));
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  signal.emit(asio::cancellation_type::terminal);  // the slot was cleared: nothing happens
  EXPECT_FALSE(out.ec);
  EXPECT_TRUE(out.permit);
  EXPECT_EQ(lim.stats().total_cancelled, 0u);
}
TEST(CppAsio, CancelRacingAGrantCompletesOnceEitherWay) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  constexpr int kRounds = 200;
  int granted = 0, canceled = 0;
  for (int i = 0; i < kRounds; ++i) {
    ptl::Permit held = lim.acquire();
    asio::io_context ioc;
    asio::cancellation_signal signal;
    Outcome out;
    ptl::async_acquire(lim, asio::bind_cancellation_slot(signal.slot(), recorder(out, ioc)));
    std::thread releaser([&] { held.release(); });  // grants on this other thread ...
    asio::post(ioc, [&] { signal.emit(asio::cancellation_type::terminal); });  // ... or not
    ioc.run();
    releaser.join();
    ASSERT_EQ(out.calls.load(), 1);
    if (out.ec == ptl::errc::cancelled) {
      EXPECT_FALSE(out.permit);
      ++canceled;
    } else {
      ASSERT_FALSE(out.ec) << out.ec.message();
      EXPECT_TRUE(out.permit);
      ++granted;
    }
    out.permit = ptl::Permit();
    ASSERT_EQ(lim.stats().in_flight, 0u) << "round " << i;
    ASSERT_EQ(lim.stats().waiting, 0u) << "round " << i;
  }
  EXPECT_EQ(granted + canceled, kRounds);
  EXPECT_EQ(lim.stats().total_cancelled, static_cast<uint64_t>(canceled));
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
TEST(CppAsio, AwaitableRaceWithATimerCancelsTheLosingAcquire) {
  ptl::Limiter lim = ptl::Limiter::create({.max_concurrent = 1});
  ptl::Permit held = lim.acquire();
  asio::io_context ioc;
  std::optional<std::size_t> winner;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
        auto result = co_await (ptl::async_acquire(lim, asio::use_awaitable) ||
                                timer.async_wait(asio::use_awaitable));
        winner = result.index();
      },
      asio::detached);
  ioc.run();
  ASSERT_TRUE(winner.has_value());
  EXPECT_EQ(*winner, 1u) << "the acquire won although the permit was held";
  const ptl::LimiterStats s = lim.stats();
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(s.total_cancelled, 1u);
  EXPECT_EQ(s.in_flight, 1u);
}
#endif  // BOOST_ASIO_HAS_CO_AWAIT
#else
TEST(CppAsio, CancellationSlotCancelsAPendingAcquire) {
  GTEST_SKIP() << "Boost.Asio " << BOOST_ASIO_VERSION
               << " has no per-operation cancellation slots (Boost >= 1.77)";
}
#endif

// Amounts by unit (ptl_acquire_amounts_async): the same completion rules as above.
const ptl::Policy kTokens = {{"requests", 1}, {"tokens", 100, std::chrono::minutes(1)}};

TEST(CppAsioAmounts, GrantCountsTheAmountsAndIsPosted) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  asio::io_context ioc;
  Outcome out;
  ptl::async_acquire(lim, {{"tokens", 60}}, recorder(out, ioc));
  EXPECT_EQ(out.calls.load(), 0) << "the handler ran inside async_acquire";
  EXPECT_EQ(lim.usage("tokens", 1min).used, 60u) << "the grant itself is immediate";
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  ASSERT_TRUE(out.permit);
  EXPECT_TRUE(out.on_io_thread);
  out.permit.settle({{"tokens", 25}});
  out.permit.release();
  EXPECT_EQ(lim.usage("tokens", 1min).used, 25u);
}

TEST(CppAsioAmounts, PendingAcquireIsGrantedOnRelease) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  ptl::Permit held = lim.acquire({{"tokens", 10}});
  asio::io_context ioc;
  Outcome out;
  const std::vector<ptl::Amount> demand = {{"tokens", 30}, {"requests", 1}};
  ptl::async_acquire(lim, demand, recorder(out, ioc));
  std::thread io([&] { ioc.run(); });
  ASSERT_TRUE(wait_waiting(lim, 1));
  held.release();
  io.join();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_FALSE(out.ec) << out.ec.message();
  EXPECT_TRUE(out.permit);
  EXPECT_EQ(lim.usage("tokens", 1min).used, 40u);
}

TEST(CppAsioAmounts, TimeoutAndBadAmountsArriveAsErrorCodes) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  ptl::Permit big = lim.acquire({{"tokens", 90}});
  big.release();  // the held slot is free; the window has 10 tokens left
  asio::io_context ioc;
  Outcome late, once, unknown, nul;
  ptl::async_acquire(lim, {{"tokens", 20}}, 10ms, recorder(late, ioc));
  ptl::async_acquire(lim, {{"tokens", 20}}, 0ms, recorder(once, ioc));
  ptl::async_acquire(lim, {{"images", 1}}, recorder(unknown, ioc));
  ptl::async_acquire(lim, {{std::string("tok\0ens", 7), 1}}, recorder(nul, ioc));
  ioc.run();
  EXPECT_EQ(late.ec, ptl::errc::timed_out);
  EXPECT_EQ(once.ec, ptl::errc::would_block);
  EXPECT_EQ(unknown.ec, ptl::errc::invalid_argument);
  EXPECT_EQ(nul.ec, ptl::errc::invalid_argument);
  for (const Outcome* o : {&late, &once, &unknown, &nul}) {
    EXPECT_EQ(o->calls.load(), 1);
    EXPECT_FALSE(o->permit);
  }
  EXPECT_EQ(lim.usage("tokens", 1min).used, 90u) << "nothing was granted";
  EXPECT_EQ(lim.stats().waiting, 0u);
}

TEST(CppAsioAmounts, UseFutureWithAmounts) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  std::future<ptl::Permit> f = ptl::async_acquire(lim, {{"tokens", 5}}, asio::use_future);
  ptl::Permit p = f.get();
  EXPECT_TRUE(p);
  EXPECT_EQ(lim.usage("tokens", 1min).used, 5u);
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
TEST(CppAsioAmounts, AwaitableOwnsItsAmountsUntilItStarts) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  asio::io_context ioc;
  bool granted = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        // The operation starts at co_await, after the vector it was made from is gone.
        auto op = [&] {
          const std::vector<ptl::Amount> demand = {{"tokens", 7}};
          return ptl::async_acquire(lim, demand, asio::use_awaitable);
        }();
        ptl::Permit p = co_await std::move(op);
        granted = static_cast<bool>(p);
        EXPECT_EQ(lim.usage("tokens", 1min).used, 7u);
      },
      asio::detached);
  ioc.run();
  EXPECT_TRUE(granted);
}
#endif

#if PTL_ASIO_HAS_CANCELLATION
TEST(CppAsioAmounts, CancellationSlotCancelsAPendingAmountsAcquire) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  ptl::Permit held = lim.acquire({{"tokens", 1}});
  asio::io_context ioc;
  asio::cancellation_signal signal;
  Outcome out;
  ptl::async_acquire(lim, {{"tokens", 50}},
                     asio::bind_cancellation_slot(signal.slot(), recorder(out, ioc)));
  ioc.poll();
  ASSERT_EQ(lim.stats().waiting, 1u);
  signal.emit(asio::cancellation_type::terminal);
  ioc.run();
  ASSERT_EQ(out.calls.load(), 1);
  EXPECT_EQ(out.ec, ptl::errc::cancelled);
  EXPECT_FALSE(out.permit);
  EXPECT_EQ(lim.stats().total_cancelled, 1u);
  held.release();
  EXPECT_EQ(lim.usage("tokens", 1min).used, 1u) << "the cancelled acquire was granted after all";
}
#else
TEST(CppAsioAmounts, CancellationSlotCancelsAPendingAmountsAcquire) {
  GTEST_SKIP() << "Boost.Asio " << BOOST_ASIO_VERSION
               << " has no per-operation cancellation slots (Boost >= 1.77)";
}
#endif

TEST(CppAsioAmounts, UnrunCompletionReleasesItsPermit) {
  ptl::Limiter lim = ptl::Limiter::create(kTokens);
  {
    asio::io_context ioc;
    Outcome out;
    ptl::async_acquire(lim, {{"tokens", 3}}, recorder(out, ioc));
    EXPECT_EQ(lim.stats().in_flight, 1u);
  }  // destroyed with the completion still queued
  EXPECT_EQ(lim.stats().in_flight, 0u);
}

TEST(CppAsioErrors, CategoryMapsStatuses) {
  EXPECT_STREQ(ptl::error_category().name(), "ptl");
  EXPECT_FALSE(ptl::make_error_code(PTL_OK));
  const error_code timed_out = ptl::make_error_code(PTL_ETIMEDOUT);
  EXPECT_EQ(timed_out, ptl::errc::timed_out);
  EXPECT_EQ(timed_out.value(), PTL_ETIMEDOUT);
  EXPECT_EQ(timed_out, boost::system::errc::timed_out);
  EXPECT_NE(timed_out, ptl::errc::cancelled);
  EXPECT_EQ(ptl::make_error_code(ptl::errc::cancelled), boost::system::errc::operation_canceled);
  EXPECT_FALSE(timed_out.message().empty());
  for (int s : {PTL_EINVAL, PTL_ENOTFOUND, PTL_EEXIST, PTL_EAGAIN, PTL_EBACKEND, PTL_ECLOSED,
                PTL_ENOMEM, PTL_ERATELIMITED, PTL_EINTERNAL, -12345}) {
    EXPECT_FALSE(ptl::make_error_code(s).message().empty()) << s;
  }
  const error_code from_enum = ptl::errc::closed;  // is_error_code_enum
  EXPECT_EQ(from_enum.value(), PTL_ECLOSED);
}

}  // namespace
}  // namespace ptl_cpp_test
