// SPDX-License-Identifier: MIT
// The blocking style of a batch: a pool of library threads behind BatchRun's starter,
// each running one attempt at a time and reporting its end.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "core/status.hpp"
#include "core/thread_annotations.hpp"
#include "exec/batch.hpp"
#include "log/log.hpp"

namespace ptl::exec {
namespace {

// Never more threads than this unless asked for: a batch of a million items with no
// concurrency limit to speak of should not make a million threads.
constexpr uint32_t kDefaultMaxWorkers = 256;

class WorkerPool {
 public:
  WorkerPool(uint32_t threads, ItemFn fn, void* user) : fn_(fn), user_(user) {
    threads_.reserve(threads);
    for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() {
    {
      core::MutexLock lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // BatchRun's starter: the item holds its permits; a worker runs it. An item started by
  // a worker's own complete() (the permit its last item gave back) runs next on that
  // worker, past the queue: no lock, no wake-up, and the worker was free anyway.
  static void enqueue(void* pool, BatchRun* run, size_t index, uint32_t attempt) {
    auto* self = static_cast<WorkerPool*>(pool);
    if (t_next.pool == self && !t_next.full) {
      t_next.job = {run, index, attempt};
      t_next.full = true;
      return;
    }
    // Notified under the lock: once the job is visible the batch may finish and the
    // pool be destroyed, so the condition variable must not be touched after unlocking.
    core::MutexLock lock(self->mutex_);
    self->jobs_.push_back({run, index, attempt});
    self->wake_.notify_one();
  }

 private:
  struct Job {
    BatchRun* run = nullptr;
    size_t index = 0;
    uint32_t attempt = 0;
  };
  // The job a worker's complete() started, while it runs complete() (pool set).
  struct NextJob {
    WorkerPool* pool = nullptr;
    Job job;
    bool full = false;
  };
  static thread_local NextJob t_next;

  void work() {
    Job job;
    bool have_job = false;
    for (;;) {
      if (!have_job) {
        core::UniqueLock lock(mutex_);
        // A loop, not a predicate: clang checks guarded reads in this scope, not in a lambda.
        while (!stopping_ && jobs_.empty()) wake_.wait(lock.native());
        if (jobs_.empty()) return;  // stopping, and nothing left
        job = jobs_.front();
        jobs_.pop_front();
      }
      core::Nanos retry_after_ns = -1;
      const int status = fn_(user_, job.run, job.index, job.attempt, &retry_after_ns);
      t_next = {this, {}, false};
      try {
        job.run->complete(job.index, status, retry_after_ns);
      } catch (const std::exception& e) {
        // Only if the item function completed its own attempt through the C ABI.
        log::logger().error("batch item {}: {}", job.index, e.what());
      }
      have_job = t_next.full;
      job = t_next.job;
      t_next = {};
    }
  }

  const ItemFn fn_;
  void* const user_;
  core::Mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_ PTL_GUARDED_BY(mutex_);
  bool stopping_ PTL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

thread_local WorkerPool::NextJob WorkerPool::t_next;

uint32_t worker_count(const RunOptions& options, size_t n, uint32_t asked) {
  const uint32_t ceiling =
      options.adaptive ? options.adaptive->max_concurrent : options.limits.max_concurrent;
  // Fewer workers than permits would let granted items wait in the queue holding a
  // window slot, then start in a bunch: more calls at once upstream than the window
  // allows.
  if (asked != 0 && asked < ceiling) {
    core::fail(core::Status::kInvalid, "worker_threads " + std::to_string(asked) +
                                           " is below the concurrency ceiling " +
                                           std::to_string(ceiling) + " (0 picks it)");
  }
  if (asked != 0) return static_cast<uint32_t>(std::min<size_t>(asked, std::max<size_t>(n, 1)));
  return static_cast<uint32_t>(
      std::max<size_t>(1, std::min<size_t>({n, static_cast<size_t>(ceiling), kDefaultMaxWorkers})));
}

}  // namespace

RunCounts run_blocking(RunOptions options, size_t n, uint32_t workers, ItemFn fn, void* user,
                       std::span<int> statuses) {
  if (fn == nullptr) core::fail(core::Status::kInvalid, "item function is NULL");
  if (statuses.size() > n) core::fail(core::Status::kInvalid, "statuses is longer than the batch");
  WorkerPool pool(worker_count(options, n, workers), fn, user);
  BatchRun* run = BatchRun::start(std::move(options), n, {&WorkerPool::enqueue, &pool}, {});
  run->wait(-1);
  RunCounts report = run->report(statuses);
  run->release();
  return report;  // the pool joins its threads; none holds a job any more
}

}  // namespace ptl::exec
