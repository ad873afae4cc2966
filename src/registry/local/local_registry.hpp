// LocalRegistry: the "local:" backend, a map of names to in-process limiters.
#pragma once

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "registry/registry.hpp"

namespace ptl::core {

class LocalRegistry final : public Registry {
 public:
  void register_limiter(std::string_view name, const LimiterConfig& config, bool replace) override;
  LimiterPtr get(std::string_view name) override;
  LimiterPtr get_or_create(std::string_view name, const LimiterConfig& config) override;
  bool exists(std::string_view name) override;
  bool remove(std::string_view name) override;
  void reset() override;
  std::vector<NamedConfig> list() override;

 private:
  // Heterogeneous lookup: a string_view finds a std::string key without a copy.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, LimiterPtr, NameHash, std::equal_to<>>;

  std::shared_mutex mutex_;  // readers (get) vastly outnumber writers (register)
  Map limiters_;
};

}  // namespace ptl::core
