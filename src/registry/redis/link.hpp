// Link: the command side of a redis:// registry. A pool of connections shared by every
// thread of the registry, the limiter code, and the reconnection policy.
//
// The limiter code is loaded once per server as a library of Redis functions and called
// with FCALL; a server without functions (before 7.0), or one that refuses FUNCTION LOAD
// to our user, gets it as a script, called with EVALSHA (see lua/common.lua).
//
// One command = one connection taken from the pool for one round trip, so threads never
// wait for each other's replies. After a failed connect the link stays "down" for a
// backoff (doubling from 25 ms to 500 ms) and fails calls at once, which keeps acquire's
// PTL_EBACKEND prompt while the server is away; the first call after the backoff tries
// again, and a success resets it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/thread_annotations.hpp"
#include "registry/redis/connection.hpp"

namespace ptl::core::redis {

class Link {
 public:
  explicit Link(const RedisOptions& options);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  const RedisOptions& options() const { return options_; }

  // Connects and loads the limiter code now, so that a bad address, password or database
  // is reported when the registry opens. Throws like eval().
  void check();

  // Runs the limiter code (FCALL or EVALSHA, loading it again if the server lost it) with
  // `keys` and `args`. Throws BackendDown if the server cannot be reached, StatusError(kBackend)
  // if it answers with an error.
  Reply eval(const Argv& keys, const Argv& args);

  // One plain command; an error reply throws StatusError(kBackend).
  Reply command(const Argv& argv);
  // Several commands in one round trip; an error reply throws StatusError(kBackend).
  std::vector<Reply> pipeline(const std::vector<Argv>& commands);

 private:
  class Lease;  // a connection taken from the pool, given back unless it broke
  std::unique_ptr<Connection> take();
  void give(std::unique_ptr<Connection> c);
  [[noreturn]] void server_error(const Reply& r, std::string_view doing) const;
  void load_code(Connection& c);
  Reply call_code(Connection& c, const Argv& keys, const Argv& args);

  const RedisOptions options_;
  Mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_ PTL_GUARDED_BY(mutex_);
  bool loaded_ PTL_GUARDED_BY(mutex_) = false;
  bool functions_ PTL_GUARDED_BY(mutex_) = false;     // else the script
  bool no_functions_ PTL_GUARDED_BY(mutex_) = false;  // FUNCTION LOAD refused
  std::string sha_ PTL_GUARDED_BY(mutex_);            // the script's
  Nanos down_until_ PTL_GUARDED_BY(mutex_) = 0;
  Nanos backoff_ PTL_GUARDED_BY(mutex_) = 0;
  std::string last_failure_ PTL_GUARDED_BY(mutex_);
};

}  // namespace ptl::core::redis
