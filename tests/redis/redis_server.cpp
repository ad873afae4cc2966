// SPDX-License-Identifier: MIT
#include "redis_server.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace ptl_test {
namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "FATAL (redis test harness): %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

std::string reply_text(const redisReply* r) {
  if (r == nullptr) return "";
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i != 0) out += ' ';
        out += reply_text(r->element[i]);
      }
      return out;
    }
    default:
      return std::string(r->str, r->len);
  }
}

}  // namespace

RedisClient::RedisClient(int port, const std::string& password) {
  timeval tv{2, 0};
  c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c_ == nullptr || c_->err != 0) return;
  redisSetTimeout(c_, tv);
  ok_ = true;
  if (!password.empty()) command({"AUTH", password});
}

RedisClient::~RedisClient() {
  if (c_ != nullptr) redisFree(c_);
}

std::string RedisClient::command(const std::vector<std::string>& argv) {
  if (!ok_) return "";
  std::vector<const char*> words;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    words.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c_, static_cast<int>(argv.size()), words.data(), lens.data()));
  if (r == nullptr) {
    ok_ = false;
    return "";
  }
  std::string out = reply_text(r);
  freeReplyObject(r);
  return out;
}

int64_t RedisClient::time_us() {
  const std::string t = command({"TIME"});
  if (!ok_ || t.empty()) return -1;
  const size_t sp = t.find(' ');
  if (sp == std::string::npos) return -1;
  return std::stoll(t.substr(0, sp)) * 1000000 + std::stoll(t.substr(sp + 1));
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("cannot find a free loopback port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

int closed_port() {
  return free_port();  // bound and closed again: nobody listens there
}

RedisServer::RedisServer(std::vector<std::string> extra_args) : extra_(std::move(extra_args)) {
  char tmpl[] = "/tmp/ptl-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) die("mkdtemp failed");
  dir_ = tmpl;
  for (size_t i = 0; i + 1 < extra_.size(); ++i) {
    if (extra_[i] == "--requirepass") password_ = extra_[i + 1];
  }
  // The port is free when read but not reserved: another process may take it first, so
  // a failed start is retried on a new port.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (spawn()) return;
  }
  die("redis-server did not start on a loopback port (see " + dir_ +
      "/redis.log); install it with scripts/install-deps.sh");
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::string cmd = "rm -rf '" + dir_ + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
}

std::string RedisServer::uri(const std::string& query) const {
  return "redis://127.0.0.1:" + std::to_string(port_) + (query.empty() ? "" : "?" + query);
}

bool RedisServer::spawn() {
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--daemonize",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--logfile",
                                   dir_ + "/redis.log"};
  // Later arguments win, so extra ones (--appendonly yes, --requirepass) override.
  args.insert(args.end(), extra_.begin(), extra_.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  const int rc = posix_spawnp(&pid, "redis-server", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    die(std::string("cannot run redis-server: ") + std::strerror(rc) +
        " (install it with scripts/install-deps.sh)");
  }
  pid_ = pid;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited: most likely the port was taken
    }
    RedisClient c(port_, password_);
    if (c.ok() && c.command({"PING"}) == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return false;
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  {
    RedisClient c(port_, password_);
    c.command({"SHUTDOWN", "NOSAVE"});
  }
  int status;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > until) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
}

bool RedisServer::start() {
  return spawn();
}

}  // namespace ptl_test
