// SPDX-License-Identifier: MIT
// Backend: what the limiters of one redis:// registry share: the options, the command
// link, the subscriber, the scheduler, the session's heartbeat, and the map from channels to
// the limiters that listen on them.
//
// Owned jointly (shared_ptr) by the registry and its limiters, because limiter handles
// outlive the registry they came from. Its threads hold only weak references, so the
// last limiter or registry to go stops them.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.hpp"
#include "registry/redis/link.hpp"
#include "registry/redis/scheduler.hpp"
#include "registry/redis/subscriber.hpp"

namespace ptl::core::redis {

class RedisLimiter;

class Backend : public std::enable_shared_from_this<Backend> {
 public:
  // Connects, loads the script and starts the threads; throws if the server is
  // unreachable (BackendDown) or refuses us (StatusError(kBackend)).
  static std::shared_ptr<Backend> open(const RedisOptions& options);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const RedisOptions& options() const { return options_; }
  Link& link() { return link_; }
  Subscriber& subscriber() { return *subscriber_; }
  Scheduler& scheduler() { return scheduler_; }

  // This registry's session: a random token, unique across every process and host, that
  // the server ties this process's permits and places in line to (lua/common.lua).
  const std::string& session() const { return token_; }
  // The channel this registry's subscriber holds for as long as it is connected: the
  // server counts its subscribers to tell whether a waiter's process is still there
  // (lua/common.lua, dispatch).
  const std::string& session_channel() const { return session_channel_; }
  // A name for one wait, unique across every process and host: "SESSION.N".
  std::string new_ticket();

  // A limiter starts (stops) hearing its channel. Stop is called from the limiter's
  // close(), before its memory can go, so the map never names a dead limiter. Several
  // objects may hear one channel: a handle kept after its limiter was removed and
  // created again lives on beside the registry's new object.
  void attach(RedisLimiter* limiter);
  void detach(RedisLimiter* limiter);

 private:
  explicit Backend(const RedisOptions& options);
  void start();
  void on_message(const std::string& channel, const std::string& payload);
  void on_confirmed(const std::string& channel);
  void on_down(const std::string& why);
  // The session's heartbeat on every limiter that holds or waits for anything; runs
  // every third of a lease on the scheduler (every 200 ms after a failure, so that what
  // was kept while the server was away reaches it soon after it answers).
  void heartbeat_all();
  template <typename Fn>
  void for_each_limiter(const std::string* channel, Fn&& fn) PTL_EXCLUDES(mutex_);

  const RedisOptions options_;
  Link link_;
  Scheduler scheduler_;
  std::unique_ptr<Subscriber> subscriber_;  // made in start(): it needs weak_from_this()
  const std::string token_;
  const std::string session_channel_;
  std::atomic<uint64_t> next_ticket_{1};

  Mutex mutex_;
  std::unordered_map<std::string, std::vector<RedisLimiter*>> by_channel_ PTL_GUARDED_BY(mutex_);
};

}  // namespace ptl::core::redis
