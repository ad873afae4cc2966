// SPDX-License-Identifier: MIT
// RegistryBackend: named limiters, the interface every backend implements.
//
// Names and configs arrive validated (capi/ checks arguments); a backend reports its
// own failures by throwing StatusError(kBackend).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/limiter_backend.hpp"

namespace ptl::core {

struct NamedConfig {
  std::string name;
  BasicConfig config;
};

class RegistryBackend {
 public:
  virtual ~RegistryBackend() = default;

  // Opens a registry by URI: "local:" (a new private in-process registry); "shm://"
  // and "redis://" select the shared backends. Throws StatusError(kInvalid) otherwise.
  static std::unique_ptr<RegistryBackend> open(std::string_view uri);

  // Deletes the shared state of `uri` (ptl_registry_destroy): an shm:// segment's file,
  // refused with StatusError(kAgain) while another process is attached, unless `force`.
  // local: and redis:// have nothing to destroy: StatusError(kInvalid) pointing to reset().
  static void destroy(std::string_view uri, bool force);

  // The process default registry, opened from $PTL_REGISTRY_URI (default "local:") on
  // first use. Throws like open() if that variable names a bad URI.
  static RegistryBackend& default_registry();

  // Throws StatusError(kExists) if `name` exists and !replace; with replace, sets its policy
  // in place.
  virtual void register_limiter(std::string_view name, const PolicySpec& policy, bool replace) = 0;
  // nullptr if there is no such limiter.
  virtual LimiterPtr get(std::string_view name) = 0;
  // Registers `name` with `policy` unless it exists, atomically; returns it.
  virtual LimiterPtr get_or_create(std::string_view name, const PolicySpec& policy) = 0;
  virtual bool exists(std::string_view name) = 0;
  virtual bool remove(std::string_view name) = 0;
  virtual void reset() = 0;
  // Every limiter, in name order.
  virtual std::vector<NamedConfig> list() = 0;
};

// The 0.1 config a policy stands for, for a backend that holds only configs; throws
// StatusError(kInvalid) naming the backend for a policy that is more than a config.
BasicConfig config_only(const PolicySpec& policy, const char* backend);

}  // namespace ptl::core
