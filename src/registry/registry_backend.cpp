// SPDX-License-Identifier: MIT
#include "registry/registry_backend.hpp"

#include <cstdlib>
#include <string>

#include "registry/local/local_registry.hpp"
#include "registry/shm/destroy.hpp"
#include "registry/shm/shm_registry.hpp"
#ifdef PTL_WITH_REDIS
#include "registry/redis/redis_registry.hpp"
#endif

namespace ptl::core {

std::unique_ptr<RegistryBackend> RegistryBackend::open(std::string_view uri) {
  if (uri == "local:" || uri == "local://") return std::make_unique<LocalRegistry>();
  const std::string shown(uri);
  if (uri.starts_with("redis://")) {
#ifdef PTL_WITH_REDIS
    return std::make_unique<redis::RedisRegistry>(uri);
#else
    fail(Status::kInvalid,
         "registry URI '" + shown + "': the redis:// backend is not built in (PTL_WITH_REDIS=OFF)");
#endif
  }
  if (uri.starts_with("shm://")) return shm::open_shm_registry(uri);
  if (uri.starts_with("local:")) {
    fail(Status::kInvalid, "registry URI '" + shown + "': local: takes no path or parameters");
  }
  fail(Status::kInvalid,
       "registry URI '" + shown + "' has an unknown scheme (expected local:, shm:// or redis://)");
}

void RegistryBackend::destroy(std::string_view uri, bool force) {
  const std::string shown(uri);
  if (uri.starts_with("shm://")) return shm::destroy_segment(shm::parse_shm_uri(uri), force);
  if (uri.starts_with("local:")) {
    fail(Status::kInvalid, "registry URI '" + shown +
                               "': a local: registry lives and ends with its process; there is "
                               "nothing to destroy (ptl_registry_reset removes its limiters)");
  }
  if (uri.starts_with("redis://")) {
    // Not the URI itself: it may hold a password.
    fail(Status::kInvalid,
         "a redis:// registry is not destroyed by the library; ptl_registry_reset removes "
         "every limiter under its prefix");
  }
  fail(Status::kInvalid,
       "registry URI '" + shown + "' has an unknown scheme (expected local:, shm:// or redis://)");
}

RegistryBackend& RegistryBackend::default_registry() {
  // Opened once and never destroyed: limiters may be used from threads and atexit
  // handlers that outlive static destruction.
  static RegistryBackend* registry = [] {
    // Read once, inside the thread-safe static initialization.
    const char* uri = std::getenv("PTL_REGISTRY_URI");  // NOLINT(concurrency-mt-unsafe)
    return open(uri != nullptr && *uri != '\0' ? uri : "local:").release();
  }();
  return *registry;
}

BasicConfig config_only(const PolicySpec& policy, const char* backend) {
  const BasicConfig config = policy.to_config();
  if (!(PolicySpec::from_config(config).limits == policy.limits)) {
    fail(Status::kInvalid, std::string(backend) + " registries hold only 0.1 configs yet");
  }
  return config;
}

}  // namespace ptl::core
