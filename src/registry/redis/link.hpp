// SPDX-License-Identifier: MIT
// Link: the command side of a redis:// registry. A pool of connections shared by every
// thread of the registry, the limiter code, and the reconnection policy.
//
// The limiter code is loaded once per server as a library of Redis functions and called
// with FCALL; a server without functions (before 7.0), or one that refuses FUNCTION LOAD
// to our user, gets it as a script, called with EVALSHA (see lua/common.lua).
//
// Calls that arrive together go out together (group commit, ADR 21): the thread that finds
// no batch in flight leads one. It takes a connection from the pool, writes its own call
// and every call queued meanwhile in one write (a pipeline), reads their replies in
// order and hands each to its caller; the callers queued wait on their own condition
// variable, and when the batch ends the first caller that queued during it leads the
// next one. So N threads cost the server one read and one write per batch instead of
// per call, and a thread alone pays one mutex more than a plain round trip. Each reply
// goes to its caller only (an error reply too); if the connection breaks, the calls whose
// replies were read keep them and every later one of the batch gets BackendDown (its
// outcome is unknown, as for a lone call), and the broken connection is dropped.
//
// Commands that are not batched (loading the code, check, pipeline) take a connection of
// the pool for one round trip. After a failed connect the link stays "down" for a
// backoff (doubling from 25 ms to 500 ms) and fails calls at once, which keeps acquire's
// PTL_EBACKEND prompt while the server is away; the first call after the backoff tries
// again, and a success resets it.
#pragma once

#include <cstdint>
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

  // One plain command, batched with the calls around it; an error reply throws
  // StatusError(kBackend).
  Reply command(const Argv& argv);
  // Several commands in one round trip; an error reply throws StatusError(kBackend).
  std::vector<Reply> pipeline(const std::vector<Argv>& commands);

  // What the batches have done so far, and what waits now (for tests and diagnostics).
  struct PipelineStats {
    uint64_t batches = 0;  // sent, including those that failed
    uint64_t calls = 0;    // in them
    size_t largest = 0;    // calls in the largest
    size_t queued = 0;     // calls waiting for the next batch now
    bool in_flight = false;
  };
  PipelineStats pipeline_stats();

 private:
  class Lease;  // a connection taken from the pool, given back unless it broke
  struct Call;  // one caller's command in a batch, on its stack
  // Sends one formatted command in the next batch and returns its reply (an error reply
  // is returned, not thrown); throws what sending it threw (BackendDown, StatusError).
  Reply submit(std::string_view resp) PTL_EXCLUDES(batch_mutex_);
  void lead(Call& me) PTL_EXCLUDES(batch_mutex_);
  void send_batch(Call* const* calls, size_t n);
  Reply submit_code(const Argv& keys, const Argv& args);
  std::unique_ptr<Connection> take();
  void give(std::unique_ptr<Connection> c);
  [[noreturn]] void server_error(const Reply& r, std::string_view doing) const;
  void load_code(Connection& c);

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

  // The batches. A Call's fields other than its command are written under batch_mutex_
  // (its state) or by the leader while the caller waits (its reply).
  Mutex batch_mutex_;
  Call* queue_head_ PTL_GUARDED_BY(batch_mutex_) = nullptr;  // FIFO, linked through Call::next
  Call* queue_tail_ PTL_GUARDED_BY(batch_mutex_) = nullptr;
  size_t queued_ PTL_GUARDED_BY(batch_mutex_) = 0;
  bool leading_ PTL_GUARDED_BY(batch_mutex_) = false;  // a batch is being sent or read
  PipelineStats stats_ PTL_GUARDED_BY(batch_mutex_);
};

}  // namespace ptl::core::redis
