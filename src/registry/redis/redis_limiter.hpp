// RedisLimiter: a limiter whose state lives in Redis, shared by every process and host
// that opens the same redis:// registry and name.
//
// Every acquire and release is one FCALL (or EVALSHA) of the limiter code (lua/), which
// keeps the holders, the window log and the line of waiters consistent on the server's
// clock.
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
// Local state is only what this process holds: its permits (value -> grant id) and its
// waiters (ticket -> waiter), under mutex_. mutex_ is never held across a round trip.
#pragma once

#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/limiter.hpp"
#include "registry/redis/backend.hpp"
#include "registry/redis/keys.hpp"
#include "registry/redis/writer_first_lock.hpp"

namespace ptl::core::redis {

class RedisLimiter final : public Limiter {
 public:
  RedisLimiter(std::shared_ptr<Backend> backend, std::string_view name);
  ~RedisLimiter() override;

  Status acquire(uint64_t cost, Nanos timeout_ns, Permit* out) override;
  Status try_acquire(uint64_t cost, Permit* out, Nanos* retry_after_ns) override;
  void release(Permit permit, std::optional<uint64_t> actual_cost) override;
  void acquire_async(uint64_t cost, Nanos timeout_ns, AcquireCallback cb,
                     uint64_t* ticket) override;
  Status cancel(uint64_t ticket) override;
  void penalize(Nanos retry_after_ns) override;
  void reconfigure(const LimiterConfig& config) override;
  LimiterConfig config() override;
  LimiterStats stats() override;

  const Keys& keys() const { return keys_; }

  // The script's arguments for a config: MC MPW WS WUS MCPW. Throws Error(kInvalid) for
  // limits the server cannot hold exactly (it counts in doubles: at most 2^53).
  static std::vector<std::string> config_args(const LimiterConfig& config);
  // Reads MC MPW WS MCPW from four replies (the order of config_args without WUS).
  static LimiterConfig parse_config(const ReplyView& mc, const ReplyView& mpw, const ReplyView& ws,
                                    const ReplyView& mcpw);

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
    Permit permit = 0;            // once kDone with kOk
    std::string error;            // once kDone with a failure
  };
  using WaiterPtr = std::shared_ptr<Waiter>;
  struct Held {
    int64_t grant = 0;   // the grant id in Redis; 0 for an open permit (on_error=open)
    std::string ticket;  // the ticket it was handed to, if it came by a hand-off
  };
  // Waiters finished under mutex_, whose callbacks run once it is dropped.
  using Done = std::vector<WaiterPtr>;

  // One round trip of the limiter code.
  Reply run(std::string_view op, std::initializer_list<std::string_view> args);
  Reply run(std::string_view op, const Argv& args);
  Reply run(std::string_view op, const std::string_view* args, size_t n);
  // The first round trip of every acquire: a grant, a place in line (if `w`), or no.
  // kOk: granted, *out set. kAgain: with no waiter, no room (*retry_after_ns set if
  // asked); with a waiter, follow it (in line, or already finished by another thread).
  // kTimedOut: the waiter's time was over before it could wait, and its last try failed.
  // Throws only when the waiter (if any) was taken back, so no callback has run.
  Status start(uint64_t cost, const WaiterPtr& w, Permit* out, Nanos* retry_after_ns);
  // True once a notice (grant, removal) has finished `w` while its acquire was still out.
  bool answered(const WaiterPtr& w);
  bool unregister(const WaiterPtr& w);
  void queued(const WaiterPtr& w, int64_t wake_us);
  Permit add_permit_locked(int64_t grant, std::string ticket = {});
  Status admit_open(Permit* out);  // on_error=open while Redis is away
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
  Status wait(const WaiterPtr& w, Permit* out);
  // A waiter gives up (timeout, cancel, close): leaves the line, undoing a grant on its
  // way. False if it was already done.
  bool leave(const WaiterPtr& w, Status status, char reason);
  void finish_locked(const WaiterPtr& w, Status status, Permit permit, std::string error,
                     Done& done);
  static void run_callbacks(Done& done);
  void schedule_dispatch_locked(Nanos at);
  void schedule_wake(int64_t wake_us);
  void on_dispatch_timer();
  void on_granted(const std::string& ticket, int64_t grant);
  void fail_all_locked(Status status, const std::string& why, Done& done);

  const std::shared_ptr<Backend> backend_;
  const Keys keys_;
  const Argv keys_argv_;  // views of keys_
  const std::string lease_us_;

  std::mutex mutex_;
  std::unordered_map<Permit, Held> held_;               // guarded by mutex_
  std::unordered_map<std::string, WaiterPtr> waiting_;  // guarded by mutex_; by ticket
  Nanos timer_at_ = kNever;                             // guarded by mutex_
  bool closed_ = false;                                 // guarded by mutex_
  bool open_logged_ = false;                            // guarded by mutex_
  uint64_t notifications_lost_ = 0;                     // guarded by mutex_
  std::vector<PendingRelease> pending_;                 // guarded by mutex_
  bool needs_sync_ = false;                             // guarded by mutex_
  Nanos refreshed_at_ = 0;  // guarded by mutex_; when the last hb or sync that got through
                            // was sent (the session's lease ran from then at the latest)
  // Shared by every round trip whose reply changes the permits we hold (an acquire until
  // its permit is recorded, a release); exclusive for a sync, so that the permits it lists
  // are exactly those the server has from us. Tickets need none: every waiter is listed,
  // from before its first round trip. Writer first: a busy process never starves its sync.
  WriterFirstLock session_mu_;
};

}  // namespace ptl::core::redis
