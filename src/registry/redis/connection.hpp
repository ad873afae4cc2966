// SPDX-License-Identifier: MIT
// Connection: one hiredis connection, opened with bounded time and authenticated.
//
// hiredis stays behind this file and reply.hpp: nothing else of the library includes it,
// so the dependency remains private to the core (and hidden in the shared library).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.hpp"
#include "registry/redis/reply.hpp"
#include "registry/redis/uri.hpp"

struct redisContext;

namespace ptl::core::redis {

// The server could not be reached or stopped answering: the connection is lost and the
// outcome of a command in flight is unknown. on_error=open admits on this one only;
// other failures (a script error, a refused AUTH) are plain StatusError(kBackend).
class BackendDown : public StatusError {
 public:
  explicit BackendDown(const std::string& message) : StatusError(Status::kBackend, message) {}
};

// A command's words; views must outlive the call that sends them.
using Argv = std::vector<std::string_view>;

class Connection {
 public:
  // Connects, authenticates and selects the database, each bounded by timeout_ns.
  // Throws BackendDown when the server is unreachable, StatusError(kBackend) when it refuses.
  static std::unique_ptr<Connection> open(const RedisOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and reads its reply. An error reply is returned, not thrown; a
  // lost connection throws BackendDown and leaves this connection broken().
  Reply command(const Argv& argv);
  // Sends every command in one write, then reads every reply (one round trip).
  std::vector<Reply> pipeline(const std::vector<Argv>& commands);

  // The command in the protocol's own form (RESP) in `out`, replacing what it held. A
  // caller of a batch formats its own command on its own thread (Link), so the thread
  // that sends the batch only copies bytes.
  static void format(const Argv& argv, std::string& out);
  // Adds an already formatted command to what the next read_reply() sends first; several
  // queued commands go out in one write (a pipeline).
  void queue(std::string_view resp);
  // Sends what is queued, if anything, then reads the next reply. An error reply is
  // returned; a lost connection throws BackendDown and leaves this connection broken().
  Reply read_reply();

  // Sends without reading (for the subscriber, which reads on its own schedule).
  void send(const Argv& argv);
  // Reads what the socket holds now and returns every complete reply in it.
  std::vector<Reply> read_available();

  int fd() const;
  bool broken() const { return broken_; }
  // True if the peer closed the connection or sent something unasked while it was idle.
  bool stale() const;

 private:
  Connection(redisContext* c, const RedisOptions& options) : c_(c), options_(options) {}
  [[noreturn]] void lost(const char* doing);
  void append(const Argv& argv);
  void flush();

  redisContext* c_;
  RedisOptions options_;  // a copy: the subscriber's thread may outlive the registry
  bool broken_ = false;
};

}  // namespace ptl::core::redis
