// SPDX-License-Identifier: MIT
// RedisLimiter: a limiter whose state lives in Redis, shared by every process and host
// that opens the same redis:// registry and name.
//
// The limiter holds a policy (ADR 15): up to 16 limits admitted together. Every acquire
// and release is one FCALL (or EVALSHA) of the limiter code (lua/), which keeps the
// holders, the window logs, the observations and the line of waiters consistent on the
// server's clock. We resolve a demand into one charge per limit against the policy we
// last read; the script refuses a charge made under another policy version ('stale'),
// and we read the new policy from that reply and resolve again.
// Liveness is per process: the server ties every permit and place in line to this
// registry's session, which the heartbeat (every third of a lease, O(1) per limiter)
// keeps alive; if the process dies, the script reclaims all of it once the session's
// lease ends. A release or cancel that cannot reach the server is kept, and the next
// heartbeat that gets through delivers it and reconciles what we really hold (sync).
//
// Waiting: an acquire that finds no room takes a ticket in the server's line in the same
// round trip. Whoever frees room (a release, a timer at the window's next free moment,
// a lease ending) runs the script, which grants the head of the line and publishes the
// grant on the limiter's channel; our subscriber hands it to the waiter. No polling.
//
// Local state is what this process holds: its permits (value -> grant id), the last
// permits it released (for a settle after release), its waiters (ticket -> waiter) and
// the policy it last read, under mutex_. mutex_ is never held across a round trip.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/limiter_backend.hpp"
#include "core/thread_annotations.hpp"
#include "registry/redis/backend.hpp"
#include "registry/redis/keys.hpp"
#include "registry/redis/writer_first_lock.hpp"

namespace ptl::core::redis {

// The largest integer a double (the server's Lua number) holds exactly: limits and amounts
// above it are refused, since the script could not count them exactly.
inline constexpr uint64_t kMaxExact = (uint64_t{1} << 53) - 1;

class RedisLimiter final : public LimiterBackend {
 public:
  RedisLimiter(std::shared_ptr<Backend> backend, std::string_view name);
  ~RedisLimiter() override;

  Status acquire(const Demand& demand, Nanos timeout_ns, PermitId* out) override;
  Status try_acquire(const Demand& demand, PermitId* out, Nanos* retry_after_ns) override;
  void release(PermitId permit, std::optional<uint64_t> actual_cost) override;
  void acquire_async(const Demand& demand, Nanos timeout_ns, AcquireCallback cb,
                     uint64_t* ticket) override;
  Status cancel(uint64_t ticket) override;
  void settle(PermitId permit, const Demand& actual) override;
  void observe(std::string_view unit, uint64_t remaining, Nanos reset_after_ns) override;
  void penalize(Nanos retry_after_ns) override;
  void set_policy(const PolicySpec& policy) override;
  PolicySpec policy() override;
  LimitUsage usage(std::string_view unit, Nanos window_ns) override;
  StatsSnapshot stats() override;

  const Keys& keys() const { return keys_; }

  // ---- the policy as the server keeps it (redis_limiter_policy.cpp) ----
  // The script's arguments for a policy: SH CW N, then UNIT MAX WNS WUS per limit.
  // Throws StatusError(kInvalid) for maxima the server cannot hold exactly (it counts in
  // doubles: at most 2^53).
  static std::vector<std::string> policy_args(const PolicySpec& policy);
  // Reads the text the server keeps ("PV SH CW N UNIT MAX WNS WUS ..."); *version gets PV.
  static PolicySpec parse_policy(std::string_view text, uint64_t* version);
  // The policy of a limiter from HMGET s v p mc (the registry's reads): nullopt if there
  // is no such limiter; throws StatusError(kBackend) for a limiter of the 0.1 layout.
  static std::optional<PolicySpec> policy_from_fields(const ReplyView& fields,
                                                      std::string_view name);
  [[noreturn]] static void throw_old_layout(std::string_view name);

  // ---- called by the backend's threads ----
  // A notification published on our channel.
  void on_message(const std::string& payload);
  // The subscriber lost its connection: grants may have been published unheard.
  void on_notifications_lost(const std::string& why);
  // The session's heartbeat on this limiter, if we hold or wait for anything here, after
  // delivering kept releases; a sync instead when something may have gone astray. False
  // if Redis could not be reached (the scheduler then tries again soon).
  bool heartbeat();

 protected:
  void close() override;

 private:
  // One acquire waiting in the server's line. Shared by its caller (or timer) and the
  // map of waiters, so whoever finishes it never touches freed memory.
  struct Waiter {
    enum class State {
      kStarting,  // registered, its first round trip in progress (owned by the caller,
                  // except that a grant handed to its ticket completes it)
      kQueued,    // in the server's line; anyone may finish it
      kLeaving,   // its cancel round trip is in progress; grants for it are ignored
      kDone,
    };
    std::string ticket;  // its name in the server's line
    uint64_t id = 0;     // the caller's ticket number (asynchronous waiters)
    uint64_t epoch = 0;  // notifications_lost_ when it started
    Nanos deadline = kNever;
    bool async = false;
    AcquireCallback callback;    // asynchronous waiters
    std::condition_variable cv;  // synchronous waiters sleep on it, under mutex_
    State state = State::kStarting;
    Status status = Status::kOk;  // once kDone
    PermitId permit = 0;          // once kDone with kOk
    std::string error;            // once kDone with a failure
  };
  using WaiterPtr = std::shared_ptr<Waiter>;
  struct Held {
    int64_t grant = 0;   // the grant id in Redis; 0 for an open permit (on_error=open)
    std::string ticket;  // the ticket it was handed to, if it came by a hand-off
  };
  // Waiters finished under mutex_, whose callbacks run once it is dropped.
  using Done = std::vector<WaiterPtr>;

  // One round trip of the limiter code; never under mutex_.
  Reply run(std::string_view op, std::initializer_list<std::string_view> args) PTL_EXCLUDES(mutex_);
  Reply run(std::string_view op, const Argv& args) PTL_EXCLUDES(mutex_);
  Reply run(std::string_view op, const std::string_view* args, size_t n) PTL_EXCLUDES(mutex_);
  // The first round trip of every acquire: a grant, a place in line (if `w`), or no.
  // kOk: granted, *out set. kAgain: with no waiter, no room (*retry_after_ns set if
  // asked); with a waiter, follow it (in line, or already finished by another thread).
  // kTimedOut: the waiter's time was over before it could wait, and its last try failed.
  // Throws only when the waiter (if any) was taken back, so no callback has run.
  Status start(const Demand& demand, const WaiterPtr& w, PermitId* out, Nanos* retry_after_ns);
  // The policy as we last read it, and its version; read from the server if never.
  struct View {
    PolicySpec policy;
    uint64_t version = 0;
  };
  std::shared_ptr<const View> view();
  // Adopts the policy text a reply carried; returns the new view.
  std::shared_ptr<const View> adopt(std::string_view text);
  // The grant id of a permit held or released lately here; nullopt if unknown.
  std::optional<int64_t> grant_of(PermitId permit);
  // True once a notice (grant, removal) has finished `w` while its acquire was still out.
  bool answered(const WaiterPtr& w);
  bool unregister(const WaiterPtr& w);
  void queued(const WaiterPtr& w, int64_t wake_us);
  PermitId add_permit_locked(int64_t grant, std::string ticket = {}) PTL_REQUIRES(mutex_);
  Status admit_open(PermitId* out);  // on_error=open while Redis is away
  [[noreturn]] void throw_removed() const;

  // ---- the session (redis_limiter_session.cpp) ----
  // A release the server has not heard yet: delivered by the next heartbeat.
  struct PendingRelease {
    std::string grant, actual, ticket;  // the rel op's arguments
  };
  // Delivers kept releases in order; throws (keeping the rest) if the server is away.
  void deliver_pending();
  void beat();
  // Tells the server everything this process holds and waits for on the limiter, so that
  // it frees what we no longer have and counts what we do (lua/session.lua, sync).
  void sync();

  // ---- waiting (redis_limiter_wait.cpp) ----
  // Registers a waiter (kStarting) under a fresh ticket, before its first round trip:
  // the grant for it may be published before that round trip's reply arrives.
  // A waiter in waiting_; `setup` fills its fields before other threads can see it.
  WaiterPtr new_waiter(Nanos timeout_ns, const std::function<void(Waiter&)>& setup = {});
  // True once our channel is confirmed (a ticket may only be taken where its grant will be
  // heard), waiting at most until `deadline` or one timeout; false if `deadline` came first
  // (the waiter's time is over: a last try, no ticket). Throws BackendDown while
  // notifications are down or unconfirmed for a whole timeout.
  bool listening(Nanos deadline);
  Status wait(const WaiterPtr& w, PermitId* out);
  // A waiter gives up (timeout, cancel, close): leaves the line, undoing a grant on its
  // way. False if it was already done.
  bool leave(const WaiterPtr& w, Status status, char reason);
  void finish_locked(const WaiterPtr& w, Status status, PermitId permit, std::string error,
                     Done& done) PTL_REQUIRES(mutex_);
  static void run_callbacks(Done& done);
  void schedule_dispatch_locked(Nanos at) PTL_REQUIRES(mutex_);
  void schedule_wake(int64_t wake_us);
  void on_dispatch_timer();
  void on_granted(const std::string& ticket, int64_t grant);
  void fail_all_locked(Status status, const std::string& why, Done& done) PTL_REQUIRES(mutex_);

  const std::shared_ptr<Backend> backend_;
  const Keys keys_;
  const Argv keys_argv_;  // views of keys_
  const std::string lease_us_;

  Mutex mutex_;
  std::unordered_map<PermitId, Held> held_ PTL_GUARDED_BY(mutex_);
  // The last permits released here and their grant ids, for a settle after release
  // (the server keeps their records while a window counts them).
  std::deque<std::pair<PermitId, int64_t>> released_ PTL_GUARDED_BY(mutex_);
  std::shared_ptr<const View> view_ PTL_GUARDED_BY(mutex_);
  std::unordered_map<std::string, WaiterPtr> waiting_ PTL_GUARDED_BY(mutex_);  // by ticket
  Nanos timer_at_ PTL_GUARDED_BY(mutex_) = kNever;
  bool closed_ PTL_GUARDED_BY(mutex_) = false;
  bool open_logged_ PTL_GUARDED_BY(mutex_) = false;
  uint64_t notifications_lost_ PTL_GUARDED_BY(mutex_) = 0;
  std::vector<PendingRelease> pending_ PTL_GUARDED_BY(mutex_);
  bool needs_sync_ PTL_GUARDED_BY(mutex_) = false;
  // When the last hb or sync that got through was sent (the session's lease ran from
  // then at the latest).
  Nanos refreshed_at_ PTL_GUARDED_BY(mutex_) = 0;
  // Shared by every round trip whose reply changes the permits we hold (an acquire until
  // its permit is recorded, a release); exclusive for a sync, so that the permits it lists
  // are exactly those the server has from us. Tickets need none: every waiter is listed,
  // from before its first round trip. Writer first: a busy process never starves its sync.
  WriterFirstLock session_mu_;
};

}  // namespace ptl::core::redis
