// SPDX-License-Identifier: MIT
// The waiting half of RedisLimiter: tickets, notifications, timers, cancel.
#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/redis_limiter.hpp"

namespace ptl::core::redis {
namespace {

std::atomic<uint64_t> g_next_async_id{1};  // async tickets are unique in the process

constexpr Nanos kDispatchRetry = 250'000'000;  // a timer's round trip failed: try again

Nanos us_to_ns(int64_t us) {
  return us > kNever / 1000 ? kNever : us * 1000;
}

}  // namespace

RedisLimiter::WaiterPtr RedisLimiter::new_waiter(Nanos timeout_ns,
                                                 const std::function<void(Waiter&)>& setup) {
  auto w = std::make_shared<Waiter>();
  if (setup) setup(*w);
  w->ticket = backend_->new_ticket();
  w->deadline = deadline_after(monotonic_now(), timeout_ns);
  MutexLock lock(mutex_);
  w->epoch = notifications_lost_;
  waiting_.emplace(w->ticket, w);
  return w;
}

bool RedisLimiter::listening(Nanos deadline) {
  const Nanos limit = deadline_after(monotonic_now(), backend_->options().timeout_ns);
  std::string why;
  // Both on the current connection: the limiter's channel carries the grant, the session's
  // tells the server that this process is still there to take it.
  Subscriber& sub = backend_->subscriber();
  const Nanos until = std::min(deadline, limit);
  if (sub.wait_confirmed(backend_->session_channel(), until, &why) &&
      sub.wait_confirmed(keys_.channel, until, &why)) {
    return true;
  }
  // The caller's own deadline came first and notifications are up: its time is over before
  // it could wait, so it gets a last try instead of a place in line.
  if (why.empty() && deadline < limit) return false;
  if (why.empty()) why = "no confirmation of the notification channel within the timeout";
  throw BackendDown("redis " + backend_->options().where() + ": " + why);
}

void RedisLimiter::queued(const WaiterPtr& w, int64_t wake_us) {
  bool lost = false;
  {
    MutexLock lock(mutex_);
    if (w->state == Waiter::State::kStarting) {
      if (w->epoch == notifications_lost_) {
        w->state = Waiter::State::kQueued;
        if (wake_us >= 0)
          schedule_dispatch_locked(deadline_after(monotonic_now(), us_to_ns(wake_us)));
      } else {
        lost = true;  // its grant could have been published while nobody listened
        w->state = Waiter::State::kQueued;  // so that leave() takes it out of line
      }
    }
  }
  if (lost) leave(w, Status::kBackend, 'x');
  if (w->async && w->deadline != kNever) {
    backend_->scheduler().at(w->deadline, [self = KeepAlive(this), w] {
      static_cast<RedisLimiter*>(self.get())->leave(w, Status::kTimedOut, 't');
    });
  }
}

Status RedisLimiter::wait(const WaiterPtr& w, PermitId* out) {
  UniqueLock lock(mutex_);
  while (w->state != Waiter::State::kDone) {
    if (w->deadline == kNever) {
      w->cv.wait(lock.native());
    } else if (w->cv.wait_until(lock.native(), to_time_point(w->deadline)) ==
               std::cv_status::timeout) {
      break;
    }
  }
  if (w->state != Waiter::State::kDone) {
    lock.unlock();
    leave(w, Status::kTimedOut, 't');
    lock.lock();
    // leave() finished it, or a grant (or failure) got there first.
    while (w->state != Waiter::State::kDone) w->cv.wait(lock.native());
  }
  switch (w->status) {
    case Status::kOk:
      *out = w->permit;
      return Status::kOk;
    case Status::kTimedOut:
      return Status::kTimedOut;
    default:
      fail(w->status, w->error);
  }
}

void RedisLimiter::acquire_async(const Demand& demand, Nanos timeout_ns, AcquireCallback cb,
                                 uint64_t* ticket) {
  const uint64_t id = g_next_async_id.fetch_add(1, std::memory_order_relaxed);
  if (ticket != nullptr) *ticket = id;
  PermitId permit = 0;
  if (timeout_ns == 0) {
    const Status st = start(demand, nullptr, &permit, nullptr);
    return cb(st, permit);
  }
  // The async fields are set before the waiter is published in waiting_, where cancel()
  // and the subscriber read them under the mutex.
  WaiterPtr w = new_waiter(timeout_ns, [&](Waiter& fresh) {
    fresh.async = true;
    fresh.callback = cb;
    fresh.id = id;
  });
  const Status st = start(demand, w, &permit, nullptr);
  if (st == Status::kOk || st == Status::kTimedOut) cb(st, permit);
  // kAgain: in line; the subscriber, a timer or cancel() finishes it.
}

Status RedisLimiter::cancel(uint64_t ticket) {
  WaiterPtr w;
  {
    MutexLock lock(mutex_);
    for (const auto& [name, candidate] : waiting_) {
      if (candidate->async && candidate->id == ticket &&
          candidate->state == Waiter::State::kQueued) {
        w = candidate;
        break;
      }
    }
  }
  if (!w) return Status::kNotFound;
  return leave(w, Status::kCanceled, 'c') ? Status::kOk : Status::kNotFound;
}

bool RedisLimiter::leave(const WaiterPtr& w, Status status, char reason) {
  {
    MutexLock lock(mutex_);
    if (w->state != Waiter::State::kQueued) return false;
    w->state = Waiter::State::kLeaving;
  }
  // The script takes the ticket out of line, or undoes the grant a notification is
  // still carrying to us; either way no trace is left. If the server cannot be reached,
  // the next heartbeat's sync does it.
  int64_t wake_us = -1;
  try {
    const Reply r = run("cxl", {w->ticket, std::string_view(&reason, 1)});
    wake_us = r.view().at(1).integer();
  } catch (const StatusError& e) {
    log::logger().debug("limiter '{}': leaving the line: {}", keys_.name, e.what());
    MutexLock lock(mutex_);
    needs_sync_ = true;  // the next heartbeat takes the ticket (or its grant) back
  }
  Done done;
  {
    MutexLock lock(mutex_);
    std::string why;
    if (status == Status::kBackend) {
      why = "redis " + backend_->options().where() + ": notifications were lost while waiting";
    } else if (status == Status::kClosed) {
      why = "the limiter was closed";
    }
    finish_locked(w, status, 0, std::move(why), done);
  }
  run_callbacks(done);
  schedule_wake(wake_us);
  return true;
}

void RedisLimiter::finish_locked(const WaiterPtr& w, Status status, PermitId permit,
                                 std::string error, Done& done) {
  waiting_.erase(w->ticket);
  w->state = Waiter::State::kDone;
  w->status = status;
  w->permit = permit;
  w->error = std::move(error);
  if (w->async) {
    done.push_back(w);
  } else {
    w->cv.notify_one();
  }
}

void RedisLimiter::run_callbacks(Done& done) {
  for (const WaiterPtr& w : done) w->callback(w->status, w->permit);
  done.clear();
}

// ---- notifications --------------------------------------------------------------------

void RedisLimiter::on_message(const std::string& payload) {
  if (payload.size() > 2 && payload[0] == 'g') {
    const size_t space = payload.find(' ', 2);
    if (space == std::string::npos) return;
    const std::string ticket = payload.substr(2, space - 2);
    on_granted(ticket, std::strtoll(payload.c_str() + space + 1, nullptr, 10));
  } else if (payload.size() > 2 && payload[0] == 'w') {
    schedule_wake(std::strtoll(payload.c_str() + 2, nullptr, 10));
  } else if (payload.size() > 2 && payload[0] == 'x') {
    Done done;
    {
      MutexLock lock(mutex_);
      auto it = waiting_.find(payload.substr(2));
      if (it == waiting_.end() || it->second->state == Waiter::State::kLeaving) return;
      // A copy: finish_locked erases the map entry that it->second lives in.
      const WaiterPtr w = it->second;
      finish_locked(w, Status::kInvalid, 0,
                    "the demand exceeds a limit's max (max_cost_per_window) set by a policy change",
                    done);
    }
    run_callbacks(done);
  } else if (payload == "r") {
    Done done;
    {
      MutexLock lock(mutex_);
      fail_all_locked(Status::kNotFound, "limiter '" + keys_.name + "' was removed", done);
    }
    run_callbacks(done);
  }
}

void RedisLimiter::on_granted(const std::string& ticket, int64_t grant) {
  Done done;
  {
    MutexLock lock(mutex_);
    auto it = waiting_.find(ticket);
    // Not waiting any more, or leaving: its cancel round trip undoes this grant.
    if (it == waiting_.end()) return;
    const WaiterPtr w = it->second;
    if (w->state != Waiter::State::kStarting && w->state != Waiter::State::kQueued) return;
    finish_locked(w, Status::kOk, add_permit_locked(grant, ticket), {}, done);
  }
  run_callbacks(done);
}

void RedisLimiter::fail_all_locked(Status status, const std::string& why, Done& done) {
  std::vector<WaiterPtr> queued;
  // Starting waiters too: their acquire may have reached the server before the removal,
  // and its reply may come after this notice; start() then sees them answered.
  for (const auto& [ticket, w] : waiting_) {
    if (w->state == Waiter::State::kQueued || w->state == Waiter::State::kStarting) {
      queued.push_back(w);
    }
  }
  for (const WaiterPtr& w : queued) finish_locked(w, status, 0, why, done);
}

void RedisLimiter::on_notifications_lost(const std::string& why) {
  Done done;
  std::vector<std::string> tickets;
  {
    MutexLock lock(mutex_);
    ++notifications_lost_;
    const bool open = backend_->options().on_error == OnError::kOpen;
    std::vector<WaiterPtr> queued;
    for (const auto& [ticket, w] : waiting_) {
      if (w->state == Waiter::State::kQueued) queued.push_back(w);
    }
    for (const WaiterPtr& w : queued) {
      tickets.push_back(w->ticket);
      if (open) {
        finish_locked(w, Status::kOk, add_permit_locked(0), {}, done);
      } else {
        finish_locked(w, Status::kBackend, 0,
                      "redis " + backend_->options().where() + ": lost while waiting: " + why,
                      done);
      }
    }
  }
  run_callbacks(done);
  // If only the notification connection broke, take the tickets out of line now; if the
  // server is away, the next heartbeat's sync does it once it answers.
  for (const std::string& ticket : tickets) {
    try {
      run("cxl", {ticket, "x"});
    } catch (const StatusError&) {
      MutexLock lock(mutex_);
      needs_sync_ = true;
      break;
    }
  }
}

// ---- timers ---------------------------------------------------------------------------

void RedisLimiter::schedule_wake(int64_t wake_us) {
  if (wake_us < 0) return;
  MutexLock lock(mutex_);
  if (!waiting_.empty()) {
    schedule_dispatch_locked(deadline_after(monotonic_now(), us_to_ns(wake_us)));
  }
}

void RedisLimiter::schedule_dispatch_locked(Nanos at) {
  if (closed_ || at >= timer_at_) return;  // an earlier timer will look again
  timer_at_ = at;
  backend_->scheduler().at(at, [self = KeepAlive(this)] {
    static_cast<RedisLimiter*>(self.get())->on_dispatch_timer();
  });
}

void RedisLimiter::on_dispatch_timer() {
  {
    MutexLock lock(mutex_);
    if (timer_at_ <= monotonic_now()) timer_at_ = kNever;
    if (closed_ || waiting_.empty()) return;
  }
  try {
    const Reply r = run("disp", {});
    schedule_wake(r.view().at(0).integer());
  } catch (const StatusError& e) {
    log::logger().debug("limiter '{}': dispatch: {}", keys_.name, e.what());
    MutexLock lock(mutex_);
    if (!waiting_.empty()) schedule_dispatch_locked(monotonic_now() + kDispatchRetry);
  }
}

void RedisLimiter::close() {
  std::vector<WaiterPtr> async;
  {
    MutexLock lock(mutex_);
    for (const auto& [ticket, w] : waiting_) {
      if (w->async && w->state == Waiter::State::kQueued) async.push_back(w);
    }
  }
  for (const WaiterPtr& w : async) leave(w, Status::kClosed, 'x');
  {
    MutexLock lock(mutex_);
    closed_ = true;
  }
  backend_->detach(this);
}

}  // namespace ptl::core::redis
