// SPDX-License-Identifier: MIT
// ShmRegistry: the "shm://NAME" backend. The registry (names -> limiters) and every
// limiter's state live in a POSIX shared-memory segment, so every process that opens
// the same URI shares the same limiters. See docs/adr/0008-shm-backend.md.
#pragma once

#include <memory>

#include "registry/registry_backend.hpp"
#include "registry/shm/shm_uri.hpp"

namespace ptl::shm {

class Segment;

class ShmRegistry final : public core::RegistryBackend {
 public:
  // Attaches to (creating if needed) the segment of `uri`. Throws StatusError(kBackend).
  explicit ShmRegistry(const ShmUri& uri);
  ~ShmRegistry() override;

  void register_limiter(std::string_view name, const core::PolicySpec& policy,
                        bool replace) override;
  core::LimiterPtr get(std::string_view name) override;
  core::LimiterPtr get_or_create(std::string_view name, const core::PolicySpec& policy) override;
  bool exists(std::string_view name) override;
  bool remove(std::string_view name) override;
  void reset() override;
  std::vector<core::NamedConfig> list() override;

  Segment& segment() const { return *seg_; }

 private:
  std::shared_ptr<Segment> seg_;
};

// RegistryBackend::open's entry for "shm://" URIs.
std::unique_ptr<core::RegistryBackend> open_shm_registry(std::string_view uri);

}  // namespace ptl::shm
