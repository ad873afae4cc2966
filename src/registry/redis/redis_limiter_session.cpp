// SPDX-License-Identifier: MIT
// The session half of RedisLimiter: the heartbeat, kept releases, and the sync that makes
// the server agree with what this process really holds (ADR 9, "Liveness").
#include <mutex>
#include <unordered_set>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/redis_limiter.hpp"

namespace ptl::core::redis {

bool RedisLimiter::heartbeat() {
  bool full_sync = false;
  {
    MutexLock lock(mutex_);
    if (closed_) return true;
    bool holds = !waiting_.empty() || !pending_.empty() || needs_sync_;
    for (const auto& [permit, held] : held_) holds = holds || held.grant != 0;
    if (!holds) return true;  // nothing of ours here: the session may lapse harmlessly
    // A heartbeat was missed (the server was away, or this process stalled): the session
    // may have been reaped meanwhile, and an acquire since then would have started it
    // again without what we held before. Only a sync tells.
    const Nanos silence = monotonic_now() - refreshed_at_;
    full_sync = needs_sync_ || silence > backend_->options().lease_ns * 2 / 3;
  }
  try {
    deliver_pending();
    if (full_sync) {
      sync();
    } else {
      beat();
    }
    return true;
  } catch (const StatusError& e) {
    log::logger().warn("limiter '{}': heartbeat did not reach redis: {}", keys_.name, e.what());
    return false;
  }
}

void RedisLimiter::deliver_pending() {
  std::vector<PendingRelease> todo;
  {
    MutexLock lock(mutex_);
    todo.swap(pending_);
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    try {
      // Idempotent: a grant id is never reused, and a second ZREM of it changes nothing.
      const Reply r = run("rel", {todo[i].grant, todo[i].actual, todo[i].ticket});
      const ReplyView v = r.view();
      if (!v.is_integer()) schedule_wake(v.at(1).integer());
    } catch (const StatusError&) {
      MutexLock lock(mutex_);
      pending_.insert(pending_.begin(), todo.begin() + static_cast<ptrdiff_t>(i), todo.end());
      throw;
    }
  }
  if (!todo.empty()) {
    log::logger().info("limiter '{}': {} releases kept while redis was away delivered", keys_.name,
                       todo.size());
  }
}

void RedisLimiter::beat() {
  const Nanos sent = monotonic_now();
  const Reply r = run("hb", {});
  const ReplyView v = r.view();
  if (v.at(0).integer() == 0) {
    Done done;
    {
      MutexLock lock(mutex_);
      fail_all_locked(Status::kNotFound, "limiter '" + keys_.name + "' no longer exists", done);
    }
    run_callbacks(done);
    return;
  }
  if (v.at(1).integer() == 0) {
    log::logger().warn(
        "limiter '{}': the server had reclaimed this process's permits and places in line "
        "(no heartbeat reached it for a whole lease); reconciling",
        keys_.name);
    sync();
    return;
  }
  {
    MutexLock lock(mutex_);
    refreshed_at_ = sent;
  }
  schedule_wake(v.at(2).integer());
}

void RedisLimiter::sync() {
  Reply r;
  Nanos sent = 0;
  std::unordered_set<std::string> in_line;
  {
    // Exclusive: no acquire or release is between the server and our maps, so the list
    // below is exactly what the server should hold for us.
    std::unique_lock<WriterFirstLock> session(session_mu_);
    std::vector<std::string> words{std::string()};
    {
      MutexLock lock(mutex_);
      for (const auto& [permit, held] : held_) {
        if (held.grant != 0) words.push_back(std::to_string(held.grant));
      }
      words[0] = std::to_string(words.size() - 1);
      // Every waiter: one whose first round trip is still out keeps the place it may be
      // taking, one leaving keeps its ticket until its own cancel arrives. Only a waiter
      // already in line when this is sent can be told it lost its place.
      for (const auto& [ticket, w] : waiting_) {
        words.push_back(ticket);
        if (w->state == Waiter::State::kQueued) in_line.insert(ticket);
      }
      needs_sync_ = false;
    }
    const Argv args(words.begin(), words.end());
    sent = monotonic_now();
    try {
      r = run("sync", args);
    } catch (const StatusError&) {
      MutexLock lock(mutex_);
      needs_sync_ = true;
      throw;
    }
  }
  const ReplyView v = r.view();
  Done done;
  {
    MutexLock lock(mutex_);
    refreshed_at_ = sent;
    if (v.at(0).integer() == 0) {
      fail_all_locked(Status::kNotFound, "limiter '" + keys_.name + "' no longer exists", done);
    }
    for (size_t i = 0; i < v.at(1).size(); ++i) {
      const std::string ticket(v.at(1).at(i).str());
      auto it = waiting_.find(ticket);
      if (it != waiting_.end() && it->second->state == Waiter::State::kQueued &&
          in_line.count(ticket) != 0) {
        finish_locked(it->second, Status::kBackend, 0,
                      "the place in line was lost: the server reclaimed it after no heartbeat "
                      "of this process reached it for a whole lease",
                      done);
      }
    }
  }
  run_callbacks(done);
  schedule_wake(v.at(2).integer());
}

}  // namespace ptl::core::redis
