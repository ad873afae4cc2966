// SPDX-License-Identifier: MIT
// The batch as plain Boost.Asio runs it, no limiter at all: the floor the batch
// executors' per-item cost is judged against.
//
//   asio_join_batch:  a boost::asio::thread_pool of W threads made for the batch, n
//                     posts, join. Pays for its threads per batch, as ptl_batch_run
//                     does for its workers.
//   AsioLatchBatch:   one pool kept across batches; a batch is n posts and a wait for
//                     a countdown the last item releases. The same pool the completion
//                     style (ptl_batch_start) posts its items to.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

namespace ptl::bench {

template <class Fn>
void asio_join_batch(unsigned threads, size_t n, Fn fn) {
  boost::asio::thread_pool pool(threads);
  for (size_t i = 0; i < n; ++i) boost::asio::post(pool, [fn, i] { fn(i); });
  pool.join();
}

// A one-shot latch: one atomic decrement per item; only the last one takes the lock.
// (Not std::latch: GCC 12's atomic waits, under std::counting_semaphore, were seen to
// lose a wake-up on this machine: two contending threads can hang for good; ADR 1.)
class Countdown {
 public:
  void reset(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    left_.store(n, std::memory_order_relaxed);
    done_ = n == 0;
  }
  void count_down() {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  std::atomic<size_t> left_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = true;
};

class AsioLatchBatch {
 public:
  explicit AsioLatchBatch(unsigned threads) : pool_(threads) {}
  ~AsioLatchBatch() { pool_.join(); }
  AsioLatchBatch(const AsioLatchBatch&) = delete;
  AsioLatchBatch& operator=(const AsioLatchBatch&) = delete;

  template <class Fn>
  void run(size_t n, Fn fn) {
    done_.reset(n);
    for (size_t i = 0; i < n; ++i) {
      boost::asio::post(pool_, [this, fn, i] {
        fn(i);
        done_.count_down();
      });
    }
    done_.wait();
  }

  boost::asio::thread_pool& pool() { return pool_; }

 private:
  boost::asio::thread_pool pool_;
  Countdown done_;
};

}  // namespace ptl::bench
