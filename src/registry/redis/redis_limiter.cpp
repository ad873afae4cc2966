#include "registry/redis/redis_limiter.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <shared_mutex>

#include "log/log.hpp"

namespace ptl::core::redis {
namespace {

// Permit values share the 64-bit space with local limiters' (serial << 24 | slot), whose
// slots stay below 0xFFFFF0; the top slot value marks ours, so no value of this process
// is ever both, and a foreign permit is always detected.
constexpr uint64_t kRedisSlot = 0xFFFFFF;
constexpr uint64_t kSerialMask = (uint64_t{1} << 40) - 1;
std::atomic<uint64_t> g_next_serial{1};

// The largest integer a double (the server's Lua number) holds exactly.
constexpr uint64_t kMaxExact = (uint64_t{1} << 53) - 1;

std::string format_seconds(double s) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", s);  // round-trips exactly
  return buf;
}

}  // namespace

RedisLimiter::RedisLimiter(std::shared_ptr<Backend> backend, std::string_view name)
    : backend_(std::move(backend)),
      keys_(backend_->options().prefix, name, backend_->options().db),
      keys_argv_(keys_.argv()),
      lease_us_(std::to_string(std::max<Nanos>(backend_->options().lease_ns / 1000, 1))) {
  backend_->attach(this);
}

RedisLimiter::~RedisLimiter() = default;

std::vector<std::string> RedisLimiter::config_args(const LimiterConfig& config) {
  if (config.max_per_window > kMaxExact || config.max_cost_per_window > kMaxExact) {
    fail(Status::kInvalid,
         "redis:// holds limits as exact doubles: max_per_window and max_cost_per_window must "
         "be at most 2^53 - 1");
  }
  // The window in whole microseconds, rounded up: a longer window is the safe side.
  const Nanos wus = std::max<Nanos>((config.window_ns() + 999) / 1000, 1);
  return {std::to_string(config.max_concurrent), std::to_string(config.max_per_window),
          format_seconds(config.window_seconds), std::to_string(wus),
          std::to_string(config.max_cost_per_window)};
}

LimiterConfig RedisLimiter::parse_config(const ReplyView& mc, const ReplyView& mpw,
                                         const ReplyView& ws, const ReplyView& mcpw) {
  LimiterConfig c;
  c.max_concurrent = static_cast<uint32_t>(mc.integer());
  c.max_per_window = static_cast<uint64_t>(mpw.integer());
  c.window_seconds = std::strtod(std::string(ws.str()).c_str(), nullptr);
  c.max_cost_per_window = static_cast<uint64_t>(mcpw.integer());
  return c;
}

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

Permit RedisLimiter::add_permit_locked(int64_t grant, std::string ticket) {
  const uint64_t serial = g_next_serial.fetch_add(1, std::memory_order_relaxed) & kSerialMask;
  const Permit permit = (serial << 24) | kRedisSlot;
  held_[permit] = Held{grant, std::move(ticket)};
  return permit;
}

Status RedisLimiter::admit_open(Permit* out) {
  std::lock_guard<std::mutex> lock(mutex_);
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
  std::lock_guard<std::mutex> lock(mutex_);
  return w->state == Waiter::State::kDone;
}

bool RedisLimiter::unregister(const WaiterPtr& w) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (w->state != Waiter::State::kStarting) return false;
  waiting_.erase(w->ticket);
  w->state = Waiter::State::kDone;
  return true;
}

Status RedisLimiter::start(uint64_t cost, const WaiterPtr& w, Permit* out, Nanos* retry_after_ns) {
  const std::string cost_arg = std::to_string(cost);
  // The waiter's ticket; none for a try; "-" for the last try of a waiter whose time was
  // over before its channel was confirmed (the script counts its refusal as a timeout).
  std::string_view ticket;
  Reply r;
  // Until a permit granted here is recorded below, a sync must not run: it would tell the
  // server we do not have what this round trip is giving us.
  std::shared_lock<WriterFirstLock> session(session_mu_, std::defer_lock);
  try {
    if (w) ticket = listening(w->deadline) ? std::string_view(w->ticket) : "-";
    session.lock();
    r = run("acq", {cost_arg, ticket});
  } catch (const BackendDown&) {
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
    std::lock_guard<std::mutex> lock(mutex_);
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
  if (tag == "inval") {
    fail(Status::kInvalid,
         "cost " + cost_arg + " exceeds max_cost_per_window " + std::to_string(v.at(1).integer()));
  }
  if (tag == "nf") throw_removed();
  fail(Status::kBackend, "unexpected reply from the limiter script: " + v.describe());
}

Status RedisLimiter::acquire(uint64_t cost, Nanos timeout_ns, Permit* out) {
  if (timeout_ns == 0) return start(cost, nullptr, out, nullptr);
  const WaiterPtr w = new_waiter(timeout_ns);
  const Status st = start(cost, w, out, nullptr);
  if (st != Status::kAgain) return st;
  return wait(w, out);
}

Status RedisLimiter::try_acquire(uint64_t cost, Permit* out, Nanos* retry_after_ns) {
  return start(cost, nullptr, out, retry_after_ns);
}

void RedisLimiter::release(Permit permit, std::optional<uint64_t> actual_cost) {
  // A sync between taking the permit out of held_ and the release reaching the server
  // would free it there first, and the release would look late.
  std::shared_lock<WriterFirstLock> session(session_mu_);
  Held held;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = held_.find(permit);
    if (it == held_.end()) {
      log::logger().warn("release of permit {} that is not held (double release?)", permit);
      fail(Status::kInvalid, "permit " + std::to_string(permit) +
                                 " is not held on this limiter (already released, or another "
                                 "limiter's)");
    }
    held = std::move(it->second);
    held_.erase(it);
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
  } catch (const Error& e) {
    log::logger().warn(
        "limiter '{}': release of permit {} did not reach redis ({}); kept, and delivered "
        "once it answers",
        keys_.name, permit, e.what());
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(rel));
  }
}

void RedisLimiter::penalize(Nanos retry_after_ns) {
  if (retry_after_ns < 0) fail(Status::kInvalid, "retry_after_ns must be >= 0");
  const std::string us = std::to_string(std::min<Nanos>(retry_after_ns / 1000, kMaxExact));
  const Reply r = run("pen", {us});
  if (r.view().at(0).str() == "nf") throw_removed();
  log::logger().info("limiter '{}' penalized for {} ms", keys_.name, retry_after_ns / 1000000);
  schedule_wake(r.view().at(1).integer());
}

void RedisLimiter::reconfigure(const LimiterConfig& config) {
  const std::vector<std::string> a = config_args(config);
  const Reply r = run("reg", {"update", a[0], a[1], a[2], a[3], a[4]});
  if (r.view().at(0).str() == "nf") throw_removed();
  log::logger().info("limiter '{}' reconfigured: max_concurrent {}, {} per {} s, cost {}",
                     keys_.name, config.max_concurrent, config.max_per_window,
                     config.window_seconds, config.max_cost_per_window);
}

LimiterConfig RedisLimiter::config() {
  const Reply r = backend_->link().command({"HMGET", keys_.state(), "mc", "mpw", "ws", "mcpw"});
  const ReplyView v = r.view();
  if (v.at(0).is_nil()) throw_removed();
  return parse_config(v.at(0), v.at(1), v.at(2), v.at(3));
}

LimiterStats RedisLimiter::stats() {
  const Reply r = run("stats", {});
  const ReplyView v = r.view();
  if (v.size() == 0) throw_removed();
  LimiterStats s;
  s.config = parse_config(v.at(0), v.at(1), v.at(2), v.at(3));
  s.in_flight = static_cast<uint32_t>(v.at(4).integer());
  s.waiting = static_cast<uint32_t>(v.at(5).integer());
  s.current_window_count = static_cast<uint64_t>(v.at(6).integer());
  s.current_window_cost = static_cast<uint64_t>(v.at(7).integer());
  s.total_acquired = static_cast<uint64_t>(v.at(8).integer());
  s.total_timeouts = static_cast<uint64_t>(v.at(9).integer());
  s.total_cancelled = static_cast<uint64_t>(v.at(10).integer());
  s.total_rejected = static_cast<uint64_t>(v.at(11).integer());
  s.total_wait_ns = static_cast<uint64_t>(v.at(12).integer()) * 1000;
  return s;
}

}  // namespace ptl::core::redis
