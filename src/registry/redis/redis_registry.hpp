// SPDX-License-Identifier: MIT
// RedisRegistry: the redis:// backend. Limiters live in a Redis server under a prefix
// (default "ptl"), shared by every process and host that opens the same server, database
// and prefix.
//
// The index {PREFIX}:registry (a sorted set, all scores 0, so in name order) lists the
// names; a limiter exists when its config hash does. Writes keep the index a superset:
// a name is added before its limiter is created and removed after it is deleted, and
// list() skips names with no config, so a process dying between the two steps leaves
// nothing visible behind. One limiter object per name and registry, as in local:.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/thread_annotations.hpp"
#include "registry/redis/backend.hpp"
#include "registry/registry_backend.hpp"

namespace ptl::core::redis {

class RedisRegistry final : public RegistryBackend {
 public:
  // Throws StatusError(kInvalid) for a bad URI, PTL_EBACKEND if the server cannot be used.
  explicit RedisRegistry(std::string_view uri);
  ~RedisRegistry() override;

  void register_limiter(std::string_view name, const PolicySpec& policy, bool replace) override;
  LimiterPtr get(std::string_view name) override;
  LimiterPtr get_or_create(std::string_view name, const PolicySpec& policy) override;
  bool exists(std::string_view name) override;
  bool remove(std::string_view name) override;
  void reset() override;
  std::vector<NamedConfig> list() override;

 private:
  void index_again(std::string_view name);
  LimiterPtr object_for(std::string_view name);  // the cached object, made on first use
  void forget(std::string_view name);
  // The limiter script, run on `name`'s keys without a limiter object.
  Reply run(std::string_view name, std::string_view op, const Argv& args);

  std::shared_ptr<Backend> backend_;
  const std::string index_;
  Mutex mutex_;
  std::map<std::string, LimiterPtr, std::less<>> objects_ PTL_GUARDED_BY(mutex_);
};

}  // namespace ptl::core::redis
