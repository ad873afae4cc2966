// SPDX-License-Identifier: MIT
// RedisServer: a real redis-server (Debian's) on a free loopback port, for the redis://
// suites; RedisClient: a plain hiredis connection for what the tests ask the server
// directly (TIME, SHUTDOWN, keys).
//
// Every test process starts its own server (a GoogleTest environment, see
// redis_env.cpp), so tests are isolated and ctest may run them in parallel. A server
// that cannot be started fails the test loudly; nothing is skipped.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

struct redisContext;

namespace ptl_test {

class RedisClient {
 public:
  RedisClient(int port, const std::string& password = "");
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  bool ok() const { return ok_; }
  // The reply as text (integers in decimal, arrays joined by spaces); "" + ok()==false
  // when the connection failed.
  std::string command(const std::vector<std::string>& argv);
  // Redis server time in microseconds, or -1 if the server did not answer.
  int64_t time_us();

 private:
  redisContext* c_ = nullptr;
  bool ok_ = false;
};

class RedisServer {
 public:
  // Starts redis-server with the given extra arguments; aborts the test process with a
  // message if it cannot (a missing redis-server is a broken setup, not a skip).
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // "redis://127.0.0.1:PORT" plus "?query" if given.
  std::string uri(const std::string& query = "") const;

  // SHUTDOWN NOSAVE and wait for the process to exit.
  void stop();
  // Starts it again, same port and arguments; returns false if it did not answer.
  bool start();
  bool running() const { return pid_ > 0; }

 private:
  bool spawn();

  std::vector<std::string> extra_;
  std::string dir_;
  std::string password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bound to port 0, read back, closed).
int free_port();
// A loopback port nobody listens on (for the unreachable-server tests).
int closed_port();

// The server of this test process.
RedisServer& redis();

}  // namespace ptl_test
