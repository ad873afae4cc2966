// SPDX-License-Identifier: MIT
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
#include <vector>

#include "registry/redis/connection.hpp"

namespace ptl::core::redis {

struct Keys {
  Keys(std::string_view prefix, std::string_view limiter_name, int db) : name(limiter_name) {
    // Appended, not "{" + ...: GCC 12 at -O3 warns falsely on a string prepended to
    // (-Wrestrict, GCC bug 105329), which breaks Release builds with warnings as errors.
    tag.append("{").append(prefix).append(":").append(name).append("}:");
    // Layout 2 (policies): s is the 0.1 layout's name too, so that each layout finds the
    // other's limiter there and refuses it (lua/common.lua); the others are new names,
    // which a 0.1 client never touches.
    static constexpr std::array<const char*, 10> kSuffixes = {"s",  "2h", "2o", "2q",  "2qi",
                                                              "2p", "2g", "2r", "2rt", "2w"};
    for (size_t i = 0; i < kSuffixes.size(); ++i) keys[i] = tag + kSuffixes[i];
    // Channels ignore SELECT: the database is part of the name so registries on two
    // databases of one server never hear each other.
    channel = tag + "2ch:" + std::to_string(db);
  }

  // The keys a 0.1 limiter of the same name uses besides s (removed with it).
  std::vector<std::string> old_layout_keys() const {
    std::vector<std::string> out;
    for (const char* k : {"h", "w", "c", "q", "p", "qi", "g", "o"}) out.push_back(tag + k);
    return out;
  }

  // The hash of policy and state: the limiter exists while it does.
  const std::string& state() const { return keys[0]; }
  Argv argv() const {
    Argv out;
    out.reserve(keys.size());
    for (const std::string& k : keys) out.emplace_back(k);
    return out;
  }

  std::string name;
  std::string tag;                   // "{PREFIX:NAME}:"
  std::array<std::string, 10> keys;  // the script's KEYS, in its order (lua/common.lua)
  std::string channel;
};

inline std::string index_key(std::string_view prefix) {
  return "{" + std::string(prefix) + "}:registry";
}

}  // namespace ptl::core::redis
