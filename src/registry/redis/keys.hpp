// Keys: the names one limiter uses in Redis.
//
// Every key of a limiter starts with the hash tag {PREFIX:NAME}, so a Redis Cluster
// keeps them in one slot and the script may touch them all. A prefix holds no ':' or
// braces (the URI parser checks), so the first ':' after '{' ends it and no two
// (prefix, name) pairs share a key; the suffixes hold no '}', so no two names of one
// prefix do either. The registry's index of names is {PREFIX}:registry.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "registry/redis/connection.hpp"

namespace ptl::core::redis {

struct Keys {
  Keys(std::string_view prefix, std::string_view limiter_name, int db) : name(limiter_name) {
    const std::string tag = "{" + std::string(prefix) + ":" + name + "}:";
    static constexpr std::array<const char*, 9> kSuffixes = {"s", "h",  "w", "c", "q",
                                                             "p", "qi", "g", "o"};
    for (size_t i = 0; i < kSuffixes.size(); ++i) keys[i] = tag + kSuffixes[i];
    // Channels ignore SELECT: the database is part of the name so registries on two
    // databases of one server never hear each other.
    channel = tag + "ch:" + std::to_string(db);
  }

  // The hash of limits and state: the limiter exists while it does.
  const std::string& state() const { return keys[0]; }
  Argv argv() const {
    Argv out;
    out.reserve(keys.size());
    for (const std::string& k : keys) out.emplace_back(k);
    return out;
  }

  std::string name;
  std::array<std::string, 9> keys;  // the script's KEYS, in its order (lua/common.lua)
  std::string channel;
};

inline std::string index_key(std::string_view prefix) {
  return "{" + std::string(prefix) + "}:registry";
}

}  // namespace ptl::core::redis
