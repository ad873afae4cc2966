// SPDX-License-Identifier: MIT
// Subscriber: the notification side of a redis:// registry. One thread and one
// connection in subscribe mode receive what the limiter script publishes (a grant
// handed to one of our waiters, the next moment the window frees, a removal) on each
// limiter's channel, and pass it to the registry's handler.
//
// Channels are confirmed by the server's subscribe reply; a waiter is queued only on a
// confirmed channel, so no notification meant for it can be missed. When the
// connection drops, every channel becomes unconfirmed and on_down runs before anything
// else: notifications may have been lost, so waiters must not keep waiting for them.
// The thread then reconnects with backoff and subscribes again. It pings the server
// every few seconds, so a server that vanished without closing the socket is noticed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "registry/redis/uri.hpp"

namespace ptl::core::redis {

struct SubscriberHandler {
  std::function<void(const std::string& channel, const std::string& payload)> on_message;
  std::function<void(const std::string& channel)> on_confirmed;
  std::function<void(const std::string& why)> on_down;
};

class Subscriber {
 public:
  Subscriber(const RedisOptions& options, SubscriberHandler handler);
  // Stops the thread; safe to call from a handler (the thread then finishes alone).
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);

  // Waits until the server confirmed `channel`, at most until `deadline` (finite). False
  // at once while the connection is down (*why says why), or at the deadline (*why empty).
  bool wait_confirmed(const std::string& channel, Nanos deadline, std::string* why);

 private:
  struct State;
  static void run(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace ptl::core::redis
