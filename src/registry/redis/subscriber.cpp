// SPDX-License-Identifier: MIT
#include "registry/redis/subscriber.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <set>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/connection.hpp"

namespace ptl::core::redis {
namespace {

constexpr Nanos kMinBackoff = 25'000'000;
constexpr Nanos kMaxBackoff = 1'000'000'000;
constexpr Nanos kPingEvery = 3'000'000'000;

int ms_until(Nanos at) {
  const Nanos left = at - monotonic_now();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<Nanos>(left / 1'000'000 + 1, 60'000));
}

}  // namespace

struct Subscriber::State {
  RedisOptions options;
  SubscriberHandler handler;
  int event_fd = -1;  // written to wake the thread: a change of channels, or stop

  Mutex mutex;
  std::condition_variable confirmed_cv;
  std::map<std::string, bool> channels PTL_GUARDED_BY(mutex);  // wanted -> confirmed
  std::set<std::string> to_subscribe PTL_GUARDED_BY(mutex);    // not sent yet
  std::set<std::string> to_unsubscribe PTL_GUARDED_BY(mutex);  // not sent yet
  std::string last_error PTL_GUARDED_BY(mutex);                // "" while connected
  bool stop PTL_GUARDED_BY(mutex) = false;

  ~State() { close(event_fd); }

  void poke() const {
    const uint64_t one = 1;
    (void)!write(event_fd, &one, sizeof one);
  }
  void drain() const {
    uint64_t n;
    (void)!read(event_fd, &n, sizeof n);
  }
  bool stopping() {
    MutexLock lock(mutex);
    return stop;
  }

  // Sends the pending (un)subscriptions; after a reconnect, every wanted channel.
  void send_changes(Connection& conn, bool all) {
    std::vector<std::string> sub;
    std::vector<std::string> unsub;
    {
      MutexLock lock(mutex);
      if (all) {
        for (const auto& [ch, confirmed] : channels) sub.push_back(ch);
      } else {
        sub.assign(to_subscribe.begin(), to_subscribe.end());
      }
      unsub.assign(to_unsubscribe.begin(), to_unsubscribe.end());
      to_subscribe.clear();
      to_unsubscribe.clear();
    }
    auto send = [&conn](const char* verb, const std::vector<std::string>& chans) {
      if (chans.empty()) return;
      Argv argv{verb};
      for (const std::string& ch : chans) argv.emplace_back(ch);
      conn.send(argv);
    };
    send("SUBSCRIBE", sub);
    send("UNSUBSCRIBE", unsub);
  }

  // Handlers run user callbacks; whatever they throw must not take the thread down.
  void handle(const ReplyView& r) {
    try {
      dispatch(r);
    } catch (const std::exception& e) {
      log::logger().error("redis notifications: handling a message failed: {}", e.what());
    }
  }

  void dispatch(const ReplyView& r) {
    if (!r.is_array() || r.size() < 2) return;
    const std::string_view kind = r.at(0).str();
    const std::string channel(r.at(1).str());
    if (kind == "message" && r.size() >= 3) {
      handler.on_message(channel, std::string(r.at(2).str()));
    } else if (kind == "subscribe") {
      bool wanted;
      {
        MutexLock lock(mutex);
        auto it = channels.find(channel);
        wanted = it != channels.end();
        if (wanted) it->second = true;
      }
      confirmed_cv.notify_all();
      if (wanted) handler.on_confirmed(channel);
    }
    // "unsubscribe" and "pong" need nothing.
  }

  void went_down(const std::string& why) {
    {
      MutexLock lock(mutex);
      for (auto& [ch, confirmed] : channels) confirmed = false;
      to_subscribe.clear();
      to_unsubscribe.clear();
      last_error = why;
    }
    confirmed_cv.notify_all();
    handler.on_down(why);
  }

  // One connected session: returns when the connection is lost or on stop.
  void session(Connection& conn) {
    {
      MutexLock lock(mutex);
      last_error.clear();
    }
    send_changes(conn, true);
    Nanos ping_at = monotonic_now() + kPingEvery;
    Nanos pong_due = kNever;
    for (;;) {
      pollfd fds[2] = {{conn.fd(), POLLIN, 0}, {event_fd, POLLIN, 0}};
      const int n = poll(fds, 2, ms_until(std::min(ping_at, pong_due)));
      if (n < 0 && errno != EINTR) throw BackendDown("redis subscriber: poll failed");
      if (stopping()) return;
      if ((fds[1].revents & POLLIN) != 0) {
        drain();
        send_changes(conn, false);
      }
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        for (const Reply& r : conn.read_available()) {
          if (r.view().is_array() && r.view().size() >= 1 && r.view().at(0).str() == "pong") {
            pong_due = kNever;
          }
          handle(r.view());
        }
      }
      const Nanos now = monotonic_now();
      if (now >= pong_due) {
        throw BackendDown("redis " + options.where() + ": no answer to PING within " +
                          std::to_string(options.timeout_ns / 1'000'000) + " ms");
      }
      if (now >= ping_at) {
        conn.send({"PING"});
        ping_at = now + kPingEvery;
        pong_due = now + options.timeout_ns;
      }
    }
  }
};

Subscriber::Subscriber(const RedisOptions& options, SubscriberHandler handler)
    : state_(std::make_shared<State>()) {
  state_->options = options;
  state_->handler = std::move(handler);
  state_->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (state_->event_fd < 0) fail(Status::kInternal, "eventfd failed");
  thread_ = std::thread([state = state_] { run(state); });
}

Subscriber::~Subscriber() {
  {
    MutexLock lock(state_->mutex);
    state_->stop = true;
  }
  state_->poke();
  state_->confirmed_cv.notify_all();
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // a handler destroyed us; the thread ends when it returns
  } else {
    thread_.join();
  }
}

void Subscriber::subscribe(const std::string& channel) {
  {
    MutexLock lock(state_->mutex);
    if (!state_->channels.emplace(channel, false).second) return;
    state_->to_unsubscribe.erase(channel);
    state_->to_subscribe.insert(channel);
  }
  state_->poke();
}

void Subscriber::unsubscribe(const std::string& channel) {
  {
    MutexLock lock(state_->mutex);
    if (state_->channels.erase(channel) == 0) return;
    state_->to_subscribe.erase(channel);
    state_->to_unsubscribe.insert(channel);
  }
  state_->poke();
}

bool Subscriber::wait_confirmed(const std::string& channel, Nanos deadline, std::string* why) {
  UniqueLock lock(state_->mutex);
  const auto confirmed = [&]() PTL_REQUIRES(state_->mutex) {
    auto it = state_->channels.find(channel);
    return it != state_->channels.end() && it->second;
  };
  // While the connection is down, fail at once: waiting is what the caller must not do.
  while (!confirmed() && !state_->stop && state_->last_error.empty()) {
    if (state_->confirmed_cv.wait_until(lock.native(), to_time_point(deadline)) ==
        std::cv_status::timeout) {
      break;
    }
  }
  if (confirmed()) return true;
  *why =
      state_->last_error.empty() ? std::string() : "notifications are down: " + state_->last_error;
  return false;
}

void Subscriber::run(const std::shared_ptr<State>& state) {
  Nanos backoff = 0;
  std::string logged;  // the last failure logged: a long outage logs once, not per retry
  while (!state->stopping()) {
    std::unique_ptr<Connection> conn;
    try {
      conn = Connection::open(state->options);
      backoff = 0;
      if (!logged.empty()) log::logger().info("redis notifications: connected again");
      logged.clear();
      state->session(*conn);
    } catch (const StatusError& e) {
      if (state->stopping()) break;
      if (logged != e.what()) log::logger().warn("redis notifications: {}", e.what());
      logged = e.what();
      state->went_down(e.what());
      if (conn) backoff = 0;  // it was up: the first retry is immediate
    }
    conn.reset();
    if (state->stopping()) break;
    if (backoff > 0) {
      pollfd p{state->event_fd, POLLIN, 0};
      poll(&p, 1, ms_until(monotonic_now() + backoff));
      if ((p.revents & POLLIN) != 0) state->drain();
    }
    backoff = std::clamp(backoff * 2, kMinBackoff, kMaxBackoff);
  }
}

}  // namespace ptl::core::redis
