// SPDX-License-Identifier: MIT
// LocalRegistry: the "local:" backend, a map of names to in-process limiters.
#pragma once

#include <atomic>
#include <string>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/thread_annotations.hpp"
#include "registry/registry_backend.hpp"

namespace ptl::local::testing {
void set_clock(const core::Clock* clock);  // registry/local/testing.hpp (tests only)
}

namespace ptl::core {

class LocalRegistry final : public RegistryBackend {
 public:
  // Its limiters read time from steady_clock(), unless a test set another clock for the
  // registries opened after it (ptl::local::testing::set_clock).
  LocalRegistry();

  void register_limiter(std::string_view name, const PolicySpec& policy, bool replace) override;
  LimiterPtr get(std::string_view name) override;
  LimiterPtr get_or_create(std::string_view name, const PolicySpec& policy) override;
  bool exists(std::string_view name) override;
  bool remove(std::string_view name) override;
  void reset() override;
  std::vector<NamedConfig> list() override;

 private:
  friend void ptl::local::testing::set_clock(const ptl::core::Clock* clock);
  // Only the test-only library ptl_local_testing writes it; nullptr: steady_clock().
  static std::atomic<const Clock*> clock_for_new_registries_;

  // Heterogeneous lookup: a string_view finds a std::string key without a copy.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, LimiterPtr, NameHash, std::equal_to<>>;

  const Clock* clock_;  // every limiter's; outlives them (ADR 19)
  SharedMutex mutex_;   // readers (get) vastly outnumber writers (register)
  Map limiters_ PTL_GUARDED_BY(mutex_);
};

}  // namespace ptl::core
