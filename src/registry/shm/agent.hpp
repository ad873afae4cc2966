// SPDX-License-Identifier: MIT
// Agent: one library thread per (process, attached segment).
//
// It is the process's presence in the segment: it claims a process-table entry and
// holds the entry's liveness lock for as long as the process stays attached, so the
// kernel itself tells the others when the process dies. It also waits on behalf of the
// process's asynchronous acquires: a releaser in any process that grants one of them
// rings the process's doorbell (a futex in its entry), and the agent runs the callback.
// And while any thread of the process waits on a limiter, it looks for dead holders of
// that limiter every kSweepPeriod: waiting never polls, but a death can only be noticed
// by someone looking, and only a waiter needs to know.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include <boost/intrusive/list.hpp>

#include "core/limiter_backend.hpp"
#include "core/thread_annotations.hpp"
#include "registry/shm/limiter_ops.hpp"

namespace ptl::shm {

class Segment;

// Called by every agent thread on each turn of its loop, between reading its doorbell word
// and checking its stop flag: a test that blocks in it until stop() has rung puts the stop
// exactly into the gap that once made ptl_registry_close hang. Null (the default, and
// always outside tests) calls nothing; it stays in the shipped library because the seam
// must sit inside the loop it tests.
using AgentLoopHook = void (*)(std::atomic<uint32_t>& doorbell);
void set_agent_loop_hook(AgentLoopHook hook);

// An asynchronous acquire of this process, queued in a limiter of the segment.
struct AsyncWaiter : boost::intrusive::list_base_hook<> {
  explicit AsyncWaiter(core::LimiterBackend* handle) : keep(handle) {}

  core::KeepAlive keep;  // the handle that asked: its close() completes the waiter
  LimiterBlock* block = nullptr;
  uint64_t uid = 0;
  Ticket ticket;
  core::Nanos deadline = core::kNever;
  core::AcquireCallback cb;
  uint64_t id = 0;  // what ptl_cancel names
  // The outcome, once completed.
  core::Status status = core::Status::kOk;
  core::PermitId permit = 0;
};
using AsyncList = boost::intrusive::list<AsyncWaiter>;

class Agent {
 public:
  explicit Agent(Segment& seg) : seg_(seg) {}
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  ~Agent();

  // Starts the thread (which keeps `self` alive until it exits) and returns once it has
  // claimed a process entry. Throws StatusError(kBackend) if it could not.
  void start(std::shared_ptr<Segment> self);
  // The process detaches: the thread releases its entry and exits. Returns once the
  // entry is released (at once when called on the agent thread itself, from a callback).
  void stop();
  // Makes the thread look at its waiters again.
  void wake();

  // A thread of this process blocks in acquire() on limiter (b, uid), or stops.
  void add_waiting(LimiterBlock* b, uint64_t uid);
  void remove_waiting(LimiterBlock* b, uint64_t uid);

  // Asynchronous waiters; every call below requires async_mutex(), which is taken
  // before any limiter lock.
  core::Mutex& async_mutex() PTL_RETURN_CAPABILITY(async_mu_) { return async_mu_; }
  void add_async(AsyncWaiter* w) PTL_REQUIRES(async_mu_) { async_.push_back(*w); }
  void remove_async(AsyncWaiter* w) PTL_REQUIRES(async_mu_) {
    async_.erase(async_.iterator_to(*w));
  }
  AsyncWaiter* find_async(uint64_t id) PTL_REQUIRES(async_mu_);
  AsyncList& async_waiters() PTL_REQUIRES(async_mu_) { return async_; }

 private:
  void run(std::promise<void>* claimed);
  // Completes what is done into *done; returns when to look again.
  core::Nanos serve(core::Nanos now, bool force, AsyncList* done);
  // Locks w's limiter if needed; true (w completed) or *wake = when to look again.
  bool poll(AsyncWaiter& w, core::Nanos now, bool force, core::Nanos* wake);
  // After poll failed on w: takes its slot out of its limiter (best effort).
  void abandon(AsyncWaiter& w, core::Nanos now);
  void sweep_waited(core::Nanos now);
  bool has_waiters();

  Segment& seg_;
  std::atomic<bool> stop_{false};
  core::Mutex exit_mu_;
  std::condition_variable exit_cv_;
  bool exited_ PTL_GUARDED_BY(exit_mu_) = false;  // the entry is released
  core::Mutex waiting_mu_;
  std::map<std::pair<LimiterBlock*, uint64_t>, int> waiting_ PTL_GUARDED_BY(waiting_mu_);
  core::Mutex async_mu_;
  AsyncList async_ PTL_GUARDED_BY(async_mu_);
};

}  // namespace ptl::shm
