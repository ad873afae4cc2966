// SPDX-License-Identifier: MIT
#include "registry/redis/redis_registry.hpp"

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/keys.hpp"
#include "registry/redis/redis_limiter.hpp"

namespace ptl::core::redis {

RedisRegistry::RedisRegistry(std::string_view uri)
    : backend_(Backend::open(parse_redis_uri(uri))), index_(index_key(backend_->options().prefix)) {
  log::logger().info("redis registry {} (prefix '{}', db {}, lease {} ms)",
                     backend_->options().where(), backend_->options().prefix,
                     backend_->options().db, backend_->options().lease_ns / 1000000);
}

RedisRegistry::~RedisRegistry() {
  std::map<std::string, LimiterPtr, std::less<>> dropped;
  MutexLock lock(mutex_);
  dropped.swap(objects_);  // released after the lock: the last reference may close one
}

LimiterPtr RedisRegistry::object_for(std::string_view name) {
  MutexLock lock(mutex_);
  auto it = objects_.find(name);
  if (it == objects_.end()) {
    it = objects_.emplace(std::string(name), LimiterPtr(new RedisLimiter(backend_, name), false))
             .first;
  }
  return it->second;
}

void RedisRegistry::forget(std::string_view name) {
  LimiterPtr dropped;
  MutexLock lock(mutex_);
  auto it = objects_.find(name);
  if (it == objects_.end()) return;
  dropped = std::move(it->second);
  objects_.erase(it);
}

Reply RedisRegistry::run(std::string_view name, std::string_view op, const Argv& args) {
  const Keys keys(backend_->options().prefix, name, backend_->options().db);
  const std::string lease = std::to_string(backend_->options().lease_ns / 1000);
  Argv argv{op, keys.channel, backend_->session(), lease};
  argv.insert(argv.end(), args.begin(), args.end());
  return backend_->link().eval(keys.argv(), argv);
}

// The script's reg op with `mode` and a policy's arguments.
static Argv reg_args(std::string_view mode, const std::vector<std::string>& policy_args) {
  Argv args{mode};
  args.insert(args.end(), policy_args.begin(), policy_args.end());
  return args;
}

void RedisRegistry::register_limiter(std::string_view name, const PolicySpec& policy,
                                     bool replace) {
  const std::vector<std::string> a = RedisLimiter::policy_args(policy);
  backend_->link().command({"ZADD", index_, "0", name});
  const Reply r = run(name, "reg", reg_args(replace ? "replace" : "create", a));
  if (r.view().at(0).str() == "exists") {
    fail(Status::kExists, "limiter '" + std::string(name) + "' already exists");
  }
  index_again(name);
}

// The index and a limiter's keys live in different hash slots, so no script can change
// both. Invariant kept at rest: every limiter is in the index (a name without a limiter
// may be, and list skips it). Adding before creating covers a process that dies between
// the steps; adding again after creating covers a concurrent remove or reset whose
// removal from the index came between our first add and the creation.
void RedisRegistry::index_again(std::string_view name) {
  backend_->link().command({"ZADD", index_, "0", name});
}

LimiterPtr RedisRegistry::get(std::string_view name) {
  const Keys keys(backend_->options().prefix, name, backend_->options().db);
  const Reply r = backend_->link().command({"HMGET", keys.state(), "v", "p", "mc"});
  // A limiter of the 0.1 layout is refused here, with what to do about it.
  if (!RedisLimiter::policy_from_fields(r.view(), name)) return nullptr;
  return object_for(name);
}

LimiterPtr RedisRegistry::get_or_create(std::string_view name, const PolicySpec& policy) {
  const std::vector<std::string> a = RedisLimiter::policy_args(policy);
  backend_->link().command({"ZADD", index_, "0", name});
  run(name, "reg", reg_args("goc", a));
  index_again(name);
  return object_for(name);
}

bool RedisRegistry::exists(std::string_view name) {
  const Keys keys(backend_->options().prefix, name, backend_->options().db);
  return backend_->link().command({"EXISTS", keys.state()}).view().integer() != 0;
}

bool RedisRegistry::remove(std::string_view name) {
  const bool existed = run(name, "rm", {}).view().integer() != 0;
  // A limiter of the 0.1 layout goes whole (the script deleted its s, the key both share).
  const Keys keys(backend_->options().prefix, name, backend_->options().db);
  Argv del{"DEL"};
  const std::vector<std::string> old = keys.old_layout_keys();
  del.insert(del.end(), old.begin(), old.end());
  backend_->link().command(del);
  backend_->link().command({"ZREM", index_, name});
  // A concurrent register may have created the name again between our two steps; its
  // own second add may have come before our ZREM, so put the name back if it lives.
  if (exists(name)) index_again(name);
  forget(name);
  return existed;
}

void RedisRegistry::reset() {
  const Reply names = backend_->link().command({"ZRANGE", index_, "0", "-1"});
  for (size_t i = 0; i < names.view().size(); ++i) {
    const std::string name(names.view().at(i).str());
    run(name, "rm", {});
    forget(name);
  }
  backend_->link().command({"DEL", index_});
  // Keys of limiters the index missed (a process died between the two steps of a
  // register): everything under the prefix goes.
  const std::string pattern = "{" + backend_->options().prefix + ":*";
  std::string cursor = "0";
  do {
    const Reply r = backend_->link().command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    cursor = r.view().at(0).str();
    const ReplyView keys = r.view().at(1);
    if (keys.size() == 0) continue;
    Argv del{"DEL"};
    for (size_t i = 0; i < keys.size(); ++i) del.push_back(keys.at(i).str());
    backend_->link().command(del);
  } while (cursor != "0");
  std::map<std::string, LimiterPtr, std::less<>> dropped;
  MutexLock lock(mutex_);
  dropped.swap(objects_);
}

std::vector<NamedConfig> RedisRegistry::list() {
  const Reply names = backend_->link().command({"ZRANGE", index_, "0", "-1"});
  const size_t n = names.view().size();
  std::vector<Keys> keys;
  keys.reserve(n);
  std::vector<Argv> reads;
  reads.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    keys.emplace_back(backend_->options().prefix, names.view().at(i).str(), backend_->options().db);
    reads.push_back({"HMGET", keys.back().state(), "v", "p", "mc"});
  }
  std::vector<NamedConfig> out;
  if (n == 0) return out;
  const std::vector<Reply> configs = backend_->link().pipeline(reads);
  for (size_t i = 0; i < n; ++i) {
    std::optional<PolicySpec> p;
    try {
      p = RedisLimiter::policy_from_fields(configs[i].view(), keys[i].name);
    } catch (const StatusError& e) {
      log::logger().warn("redis registry: {}", e.what());  // a 0.1 limiter: not ours to list
      continue;
    }
    if (!p) continue;  // listed, but not (or no longer) created
    out.push_back({keys[i].name, p->to_config()});
  }
  return out;
}

}  // namespace ptl::core::redis
