// SPDX-License-Identifier: MIT
#include "registry/redis/backend.hpp"

#include <cinttypes>
#include <cstdio>
#include <random>
#include <vector>

#include "core/limiter_backend.hpp"
#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/redis_limiter.hpp"

namespace ptl::core::redis {
namespace {

constexpr Nanos kHeartbeatRetry = 200'000'000;  // after a failed heartbeat

std::string random_token() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

}  // namespace

Backend::Backend(const RedisOptions& options)
    : options_(options),
      link_(options_),
      token_(random_token()),
      session_channel_("ptl-session:" + token_) {}

Backend::~Backend() {
  subscriber_.reset();  // first: its handlers must not run into a half-destroyed backend
}

std::shared_ptr<Backend> Backend::open(const RedisOptions& options) {
  std::shared_ptr<Backend> b(new Backend(options));
  b->link_.check();
  b->start();
  return b;
}

void Backend::start() {
  std::weak_ptr<Backend> weak = weak_from_this();
  SubscriberHandler h;
  h.on_message = [weak](const std::string& channel, const std::string& payload) {
    if (auto self = weak.lock()) self->on_message(channel, payload);
  };
  h.on_confirmed = [weak](const std::string& channel) {
    if (auto self = weak.lock()) self->on_confirmed(channel);
  };
  h.on_down = [weak](const std::string& why) {
    if (auto self = weak.lock()) self->on_down(why);
  };
  subscriber_ = std::make_unique<Subscriber>(options_, std::move(h));
  subscriber_->subscribe(session_channel_);
  scheduler_.at(monotonic_now() + options_.lease_ns / 3, [weak] {
    if (auto self = weak.lock()) self->heartbeat_all();
  });
}

std::string Backend::new_ticket() {
  return token_ + "." + std::to_string(next_ticket_.fetch_add(1, std::memory_order_relaxed));
}

void Backend::attach(RedisLimiter* limiter) {
  {
    MutexLock lock(mutex_);
    by_channel_[limiter->keys().channel].push_back(limiter);
  }
  subscriber_->subscribe(limiter->keys().channel);
}

void Backend::detach(RedisLimiter* limiter) {
  {
    MutexLock lock(mutex_);
    auto it = by_channel_.find(limiter->keys().channel);
    if (it == by_channel_.end()) return;
    std::erase(it->second, limiter);
    if (!it->second.empty()) return;
    by_channel_.erase(it);
  }
  subscriber_->unsubscribe(limiter->keys().channel);
}

// Calls fn on every attached limiter (of one channel, if given). The keep-alives are
// taken under mutex_, which detach() also takes, so never on a limiter already closed;
// fn runs with no backend lock held (it may call back into the backend or drop the
// limiter).
template <typename Fn>
void Backend::for_each_limiter(const std::string* channel, Fn&& fn) {
  std::vector<KeepAlive> snapshot;
  {
    MutexLock lock(mutex_);
    if (channel != nullptr) {
      auto it = by_channel_.find(*channel);
      if (it == by_channel_.end()) return;
      for (RedisLimiter* l : it->second) snapshot.emplace_back(l);
    } else {
      for (auto& [ch, limiters] : by_channel_) {
        for (RedisLimiter* l : limiters) snapshot.emplace_back(l);
      }
    }
  }
  for (const KeepAlive& k : snapshot) fn(*static_cast<RedisLimiter*>(k.get()));
}

void Backend::on_message(const std::string& channel, const std::string& payload) {
  for_each_limiter(&channel, [&payload](RedisLimiter& l) { l.on_message(payload); });
}

void Backend::on_confirmed(const std::string& channel) {
  log::logger().debug("redis: listening on {}", channel);
}

void Backend::on_down(const std::string& why) {
  for_each_limiter(nullptr, [&why](RedisLimiter& l) { l.on_notifications_lost(why); });
}

void Backend::heartbeat_all() {
  bool ok = true;
  for_each_limiter(nullptr, [&ok](RedisLimiter& l) { ok = l.heartbeat() && ok; });
  const Nanos period = options_.lease_ns / 3;
  const Nanos next = ok ? period : std::min(kHeartbeatRetry, period);
  std::weak_ptr<Backend> weak = weak_from_this();
  scheduler_.at(monotonic_now() + next, [weak] {
    if (auto self = weak.lock()) self->heartbeat_all();
  });
}

}  // namespace ptl::core::redis
