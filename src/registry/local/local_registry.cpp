// SPDX-License-Identifier: MIT
#include "registry/local/local_registry.hpp"

#include <algorithm>
#include <mutex>

#include "core/local_limiter.hpp"

namespace ptl::core {

std::atomic<const Clock*> LocalRegistry::clock_for_new_registries_{nullptr};

LocalRegistry::LocalRegistry() : clock_(clock_for_new_registries_.load()) {
  if (clock_ == nullptr) clock_ = &steady_clock();
}

void LocalRegistry::register_limiter(std::string_view name, const PolicySpec& policy,
                                     bool replace) {
  LimiterPtr existing;
  {
    WriterLock lock(mutex_);
    auto it = limiters_.find(name);
    if (it == limiters_.end()) {
      limiters_.emplace(std::string(name), LimiterPtr(new LocalLimiter(policy, *clock_), false));
      return;
    }
    if (!replace) fail(Status::kExists, "limiter '" + std::string(name) + "' already exists");
    existing = it->second;
  }
  existing->set_policy(policy);  // outside the registry lock: it may wake waiters
}

LimiterPtr LocalRegistry::get(std::string_view name) {
  ReaderLock lock(mutex_);
  auto it = limiters_.find(name);
  return it == limiters_.end() ? nullptr : it->second;
}

LimiterPtr LocalRegistry::get_or_create(std::string_view name, const PolicySpec& policy) {
  if (LimiterPtr found = get(name)) return found;
  WriterLock lock(mutex_);
  auto [it, inserted] = limiters_.try_emplace(std::string(name));
  if (inserted) it->second = LimiterPtr(new LocalLimiter(policy, *clock_), false);
  return it->second;
}

bool LocalRegistry::exists(std::string_view name) {
  ReaderLock lock(mutex_);
  return limiters_.find(name) != limiters_.end();
}

bool LocalRegistry::remove(std::string_view name) {
  LimiterPtr removed;  // dropped after the lock: the last reference may run callbacks
  WriterLock lock(mutex_);
  auto it = limiters_.find(name);
  if (it == limiters_.end()) return false;
  removed = std::move(it->second);
  limiters_.erase(it);
  return true;
}

void LocalRegistry::reset() {
  Map removed;
  WriterLock lock(mutex_);
  removed.swap(limiters_);
}

std::vector<NamedConfig> LocalRegistry::list() {
  std::vector<std::pair<std::string, LimiterPtr>> snapshot;
  {
    ReaderLock lock(mutex_);
    snapshot.assign(limiters_.begin(), limiters_.end());
  }
  std::vector<NamedConfig> out;
  out.reserve(snapshot.size());
  for (auto& [name, limiter] : snapshot) out.push_back({name, limiter->config()});
  std::sort(out.begin(), out.end(),
            [](const NamedConfig& a, const NamedConfig& b) { return a.name < b.name; });
  return out;
}

}  // namespace ptl::core
