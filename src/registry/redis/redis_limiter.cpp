// SPDX-License-Identifier: MIT
#include "registry/redis/redis_limiter.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <shared_mutex>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"

namespace ptl::core::redis {
namespace {

// Permit values share the 64-bit space with local limiters' (serial << 24 | slot), whose
// slots stay below 0xFFFFF0; the top slot value marks ours, so no value of this process
// is ever both, and a foreign permit is always detected.
constexpr uint64_t kRedisSlot = 0xFFFFFF;
constexpr uint64_t kSerialMask = (uint64_t{1} << 40) - 1;
std::atomic<uint64_t> g_next_serial{1};

// Released permits remembered per limiter object for a settle after release (ADR 15).
constexpr size_t kMaxReleased = 1024;
// Policy changes between our read and our acquire that we follow before giving up.
constexpr int kStaleRetries = 8;

}  // namespace

RedisLimiter::RedisLimiter(std::shared_ptr<Backend> backend, std::string_view name)
    : backend_(std::move(backend)),
      keys_(backend_->options().prefix, name, backend_->options().db),
      keys_argv_(keys_.argv()),
      lease_us_(std::to_string(std::max<Nanos>(backend_->options().lease_ns / 1000, 1))) {
  backend_->attach(this);
}

RedisLimiter::~RedisLimiter() = default;

Reply RedisLimiter::run(std::string_view op, std::initializer_list<std::string_view> args) {
  return run(op, args.begin(), args.size());
}

Reply RedisLimiter::run(std::string_view op, const Argv& args) {
  return run(op, args.data(), args.size());
}

Reply RedisLimiter::run(std::string_view op, const std::string_view* args, size_t n) {
  // One buffer per thread: no allocation per call once it has grown.
  thread_local Argv argv;
  argv.clear();
  argv.emplace_back(op);
  argv.emplace_back(keys_.channel);
  argv.emplace_back(backend_->session());
  argv.emplace_back(lease_us_);
  argv.insert(argv.end(), args, args + n);
  return backend_->link().eval(keys_argv_, argv);
}

void RedisLimiter::throw_removed() const {
  fail(Status::kNotFound, "limiter '" + keys_.name + "' does not exist on redis " +
                              backend_->options().where() +
                              " (removed, reset, or the server lost its data: register it again)");
}

PermitId RedisLimiter::add_permit_locked(int64_t grant, std::string ticket) {
  const uint64_t serial = g_next_serial.fetch_add(1, std::memory_order_relaxed) & kSerialMask;
  const PermitId permit = (serial << 24) | kRedisSlot;
  held_[permit] = Held{grant, std::move(ticket)};
  return permit;
}

Status RedisLimiter::admit_open(PermitId* out) {
  MutexLock lock(mutex_);
  if (!open_logged_) {
    log::logger().warn(
        "limiter '{}': redis {} unreachable, admitting without limits "
        "(on_error=open)",
        keys_.name, backend_->options().where());
    open_logged_ = true;
  }
  *out = add_permit_locked(0);
  return Status::kOk;
}

bool RedisLimiter::answered(const WaiterPtr& w) {
  MutexLock lock(mutex_);
  return w->state == Waiter::State::kDone;
}

bool RedisLimiter::unregister(const WaiterPtr& w) {
  MutexLock lock(mutex_);
  if (w->state != Waiter::State::kStarting) return false;
  waiting_.erase(w->ticket);
  w->state = Waiter::State::kDone;
  return true;
}

Status RedisLimiter::start(const Demand& demand, const WaiterPtr& w, PermitId* out,
                           Nanos* retry_after_ns) {
  // The waiter's ticket; none for a try; "-" for the last try of a waiter whose time was
  // over before its channel was confirmed (the script counts its refusal as a timeout).
  std::string_view ticket;
  Reply r;
  // Until a permit granted here is recorded below, a sync must not run: it would tell the
  // server we do not have what this round trip is giving us.
  std::shared_lock<WriterFirstLock> session(session_mu_, std::defer_lock);
  try {
    if (w) ticket = listening(w->deadline) ? std::string_view(w->ticket) : "-";
    std::shared_ptr<const View> v = view();
    session.lock();
    for (int attempt = 0;; ++attempt) {
      // Throws StatusError(kInvalid) for a demand the policy refuses: nothing was sent.
      const Charges c = resolve_charges(v->policy, demand.amounts, demand.n, demand.lenient_tokens);
      std::vector<std::string> words{std::to_string(v->version), std::string(ticket)};
      for (uint32_t i = 0; i < c.n; ++i) words.push_back(std::to_string(c.amount[i]));
      const Argv args(words.begin(), words.end());
      r = run("acq", args);
      const ReplyView rv = r.view();
      if (rv.is_integer() || rv.at(0).str() != "stale") break;
      if (attempt == kStaleRetries) {
        fail(Status::kBackend, "limiter '" + keys_.name + "': its policy kept changing");
      }
      v = adopt(rv.at(1).str());  // changed by someone else since we read it
    }
  } catch (const BackendDown&) {
    {
      // The server may have granted this call before the connection broke (its reply was
      // not read): the grant is our session's, and while we heartbeat for other permits
      // nothing would reap it. The next heartbeat is a sync, which frees what we do not list.
      MutexLock lock(mutex_);
      needs_sync_ = true;
    }
    if (w && !unregister(w)) return Status::kAgain;
    if (backend_->options().on_error == OnError::kOpen) return admit_open(out);
    throw;
  } catch (...) {
    if (w && !unregister(w)) return Status::kAgain;
    throw;
  }
  if (w && answered(w)) return Status::kAgain;  // a notice came first; wait() reports it
  const ReplyView v = r.view();
  if (v.is_integer()) {  // granted: the grant id
    const int64_t grant = v.integer();
    MutexLock lock(mutex_);
    if (w) {
      waiting_.erase(w->ticket);
      w->state = Waiter::State::kDone;
    }
    open_logged_ = false;
    *out = add_permit_locked(grant);
    return Status::kOk;
  }
  // No callback may run under the read lock (it could acquire or release again).
  session.unlock();
  const std::string_view tag = v.at(0).str();
  if (tag == "queued") {
    queued(w, v.at(1).integer());
    return Status::kAgain;
  }
  if (w) unregister(w);
  if (tag == "again") {
    if (w) return Status::kTimedOut;  // the last try of a waiter ("-")
    const int64_t us = v.at(1).integer();
    if (retry_after_ns != nullptr) *retry_after_ns = us < 0 ? -1 : us * 1000;
    return Status::kAgain;
  }
  if (tag == "nf") throw_removed();
  fail(Status::kBackend, "unexpected reply from the limiter script: " + v.describe());
}

Status RedisLimiter::acquire(const Demand& demand, Nanos timeout_ns, PermitId* out) {
  if (timeout_ns == 0) return start(demand, nullptr, out, nullptr);
  const WaiterPtr w = new_waiter(timeout_ns);
  const Status st = start(demand, w, out, nullptr);
  if (st != Status::kAgain) return st;
  return wait(w, out);
}

Status RedisLimiter::try_acquire(const Demand& demand, PermitId* out, Nanos* retry_after_ns) {
  return start(demand, nullptr, out, retry_after_ns);
}

void RedisLimiter::release(PermitId permit, std::optional<uint64_t> actual_cost) {
  // A sync between taking the permit out of held_ and the release reaching the server
  // would free it there first, and the release would look late.
  std::shared_lock<WriterFirstLock> session(session_mu_);
  Held held;
  {
    MutexLock lock(mutex_);
    auto it = held_.find(permit);
    if (it == held_.end()) {
      log::logger().warn("release of permit {} that is not held (double release?)", permit);
      fail(Status::kInvalid, "permit " + std::to_string(permit) +
                                 " is not held on this limiter (already released, or another "
                                 "limiter's)");
    }
    held = std::move(it->second);
    held_.erase(it);
    if (held.grant != 0) {
      if (released_.size() == kMaxReleased) released_.pop_front();
      released_.emplace_back(permit, held.grant);
    }
  }
  if (held.grant == 0) return;  // an open permit never reached the server
  PendingRelease rel{
      std::to_string(held.grant),
      actual_cost ? std::to_string(std::min<uint64_t>(*actual_cost, kMaxExact)) : std::string(),
      std::move(held.ticket)};
  // The permit is gone from here whatever happens next: if the server cannot be told now,
  // the release is kept and delivered by the next heartbeat that gets through.
  try {
    const Reply r = run("rel", {rel.grant, rel.actual, rel.ticket});
    // HELD alone when nobody waits, else {HELD, wake us}.
    const ReplyView v = r.view();
    if ((v.is_integer() ? v : v.at(0)).integer() == 0) {
      log::logger().warn(
          "limiter '{}': permit {} was released after the server had reclaimed it (the "
          "process stalled, or lost redis, for longer than a lease)",
          keys_.name, permit);
    }
    if (!v.is_integer()) schedule_wake(v.at(1).integer());
  } catch (const StatusError& e) {
    log::logger().warn(
        "limiter '{}': release of permit {} did not reach redis ({}); kept, and delivered "
        "once it answers",
        keys_.name, permit, e.what());
    MutexLock lock(mutex_);
    pending_.push_back(std::move(rel));
  }
}

}  // namespace ptl::core::redis
