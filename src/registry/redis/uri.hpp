// SPDX-License-Identifier: MIT
// RedisOptions: what a redis:// URI says, checked once when the registry opens.
//
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&lease=S&on_error=fail|open&timeout=S]
//
// The password (and user) may be percent-encoded; HOST may be a name, an IPv4 address or
// a bracketed IPv6 address. Everything wrong is StatusError(kInvalid) naming the part.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace ptl::core::redis {

enum class OnError {
  kFail,  // acquire fails with PTL_EBACKEND while the server is unreachable
  kOpen,  // acquire admits (unaccounted "open" permits) while the server is unreachable
};

struct RedisOptions {
  std::string host;
  int port = 6379;
  std::string user;  // empty: the default user (AUTH with the password alone)
  std::string password;
  bool has_password = false;
  int db = 0;
  std::string prefix = "ptl";
  // How long a process's permits and places in line outlive its last heartbeat (one
  // every third of it): the reclaim time of a process that died.
  Nanos lease_ns = 3'000'000'000;
  Nanos timeout_ns = 2'000'000'000;  // bound on connecting and on every command
  OnError on_error = OnError::kFail;

  // "host:port", for messages.
  std::string where() const;
};

// Throws StatusError(kInvalid) with a message that names what is wrong.
RedisOptions parse_redis_uri(std::string_view uri);

}  // namespace ptl::core::redis
