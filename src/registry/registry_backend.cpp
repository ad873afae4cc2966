// SPDX-License-Identifier: MIT
#include "registry/registry_backend.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "registry/local/local_registry.hpp"
#include "registry/shm/destroy.hpp"
#include "registry/shm/shm_registry.hpp"
#ifdef PTL_WITH_REDIS
#include "registry/redis/redis_registry.hpp"
#endif

namespace ptl::core {
namespace {

// The URI as an error message may show it: credentials (USER:PASSWORD@ before the host,
// in any scheme a user may mistype) become "***@". Messages end up in logs.
std::string shown_uri(std::string_view uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return std::string(uri);
  const size_t host_start = scheme_end + 3;
  const size_t host_end = std::min(uri.find_first_of("/?#", host_start), uri.size());
  const size_t at = uri.substr(0, host_end).rfind('@');
  if (at == std::string_view::npos || at < host_start) return std::string(uri);
  return std::string(uri.substr(0, host_start)) + "***" + std::string(uri.substr(at));
}

}  // namespace

std::unique_ptr<RegistryBackend> RegistryBackend::open(std::string_view uri) {
  if (uri == "local:" || uri == "local://") return std::make_unique<LocalRegistry>();
  const std::string shown = shown_uri(uri);
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
  const std::string shown = shown_uri(uri);
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
