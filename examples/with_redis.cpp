// SPDX-License-Identifier: MIT
// ptl-with-redis: runs a command against a private redis-server, for ctest's smoke runs of
// ptl-demo --uri redis://... (not installed). It starts redis-server on a free loopback port
// with the redis suites' helper (tests/redis/redis_server.hpp: no persistence, a temporary
// directory, started again on another port if the first was taken), runs the command with
// every "@REDIS_URI@" in its arguments replaced by redis://127.0.0.1:PORT, stops the server
// and exits with the command's status (128 + N if a signal N ended it).
//
//   ptl-with-redis ptl-demo --processes 2 --uri @REDIS_URI@ --time-scale 60
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "redis_server.hpp"

extern char** environ;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ptl-with-redis COMMAND [ARG...]  (@REDIS_URI@ is replaced)\n");
    return 2;
  }
  ptl_test::RedisServer server;  // exits with a message if redis-server cannot start
  const std::string uri = server.uri();
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::string& a : args)
    for (size_t at; (at = a.find("@REDIS_URI@")) != std::string::npos;)
      a.replace(at, std::strlen("@REDIS_URI@"), uri);
  std::vector<char*> cargv;
  for (std::string& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  pid_t pid = -1;
  if (const int rc = posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ);
      rc != 0) {
    std::fprintf(stderr, "ptl-with-redis: cannot run %s: %s\n", cargv[0], std::strerror(rc));
    return 2;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  server.stop();
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}
