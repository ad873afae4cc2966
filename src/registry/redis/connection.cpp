// SPDX-License-Identifier: MIT
#include "registry/redis/connection.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <charconv>
#include <cstring>

namespace ptl::core::redis {
namespace {

timeval to_timeval(Nanos ns) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  tv.tv_usec = static_cast<suseconds_t>((ns % 1'000'000'000) / 1000);
  return tv;
}

// Appends "<prefix><n>\r\n" (a RESP header).
void put_header(std::string& out, char prefix, size_t n) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out += prefix;
  out.append(digits, end);
  out += "\r\n";
}

}  // namespace

std::unique_ptr<Connection> Connection::open(const RedisOptions& options) {
  redisContext* c =
      redisConnectWithTimeout(options.host.c_str(), options.port, to_timeval(options.timeout_ns));
  if (c == nullptr) throw BackendDown("redis " + options.where() + ": out of memory connecting");
  if (c->err != 0) {
    const std::string why = c->errstr;
    redisFree(c);
    throw BackendDown("redis " + options.where() + " unreachable: connect: " + why);
  }
  // Every later read and write is bounded too, so a server that stops answering costs
  // a caller at most the timeout.
  redisSetTimeout(c, to_timeval(options.timeout_ns));
  redisEnableKeepAlive(c);
  std::unique_ptr<Connection> conn(new Connection(c, options));
  if (options.has_password) {
    Argv auth{"AUTH"};
    if (!options.user.empty()) auth.emplace_back(options.user);
    auth.emplace_back(options.password);
    const Reply r = conn->command(auth);
    if (r.is_error()) {
      fail(Status::kBackend,
           "redis " + options.where() + " refused the password: " + std::string(r.str()));
    }
  }
  if (options.db != 0) {
    const std::string db = std::to_string(options.db);
    const Reply r = conn->command({"SELECT", db});
    if (r.is_error()) {
      fail(Status::kBackend,
           "redis " + options.where() + ": SELECT " + db + ": " + std::string(r.str()));
    }
  }
  return conn;
}

Connection::~Connection() {
  redisFree(c_);
}

void Connection::lost(const char* doing) {
  broken_ = true;
  std::string why = c_->errstr[0] != '\0' ? c_->errstr : "connection closed";
  // hiredis reports a socket timeout as the text of EAGAIN.
  if (c_->err == REDIS_ERR_IO && std::strstr(c_->errstr, "temporarily unavailable") != nullptr) {
    why = "no answer within " + std::to_string(options_.timeout_ns / 1'000'000) + " ms";
  } else if (c_->err == REDIS_ERR_EOF) {
    why = "the server closed the connection";
  }
  throw BackendDown("redis " + options_.where() + " " + doing + ": " + why);
}

void Connection::format(const Argv& argv, std::string& out) {
  out.clear();
  put_header(out, '*', argv.size());
  for (std::string_view w : argv) {
    put_header(out, '$', w.size());
    out.append(w);
    out += "\r\n";
  }
}

void Connection::queue(std::string_view resp) {
  if (broken_) throw BackendDown("redis " + options_.where() + ": connection lost");
  if (redisAppendFormattedCommand(c_, resp.data(), resp.size()) != REDIS_OK) lost("sending");
}

void Connection::append(const Argv& argv) {
  // The command in the protocol's own form, built here into a buffer of the thread (no
  // allocation once it has grown): hiredis's own formatter, an sds printf per word, cost
  // more than everything else this side of a call does.
  thread_local std::string cmd;
  format(argv, cmd);
  const int rc = redisAppendFormattedCommand(c_, cmd.data(), cmd.size());
  if (cmd.capacity() > 4096) std::string().swap(cmd);  // loading the code: keep no 20 KB
  if (rc != REDIS_OK) lost("sending");
}

void Connection::flush() {
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(c_, &done) != REDIS_OK) lost("sending");
  }
}

Reply Connection::read_reply() {
  void* r = nullptr;
  if (redisGetReply(c_, &r) != REDIS_OK || r == nullptr) lost("reading");
  return Reply(static_cast<redisReply*>(r));
}

Reply Connection::command(const Argv& argv) {
  if (broken_) throw BackendDown("redis " + options_.where() + ": connection lost");
  append(argv);
  return read_reply();
}

std::vector<Reply> Connection::pipeline(const std::vector<Argv>& commands) {
  if (broken_) throw BackendDown("redis " + options_.where() + ": connection lost");
  for (const Argv& argv : commands) append(argv);
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) replies.push_back(read_reply());
  return replies;
}

void Connection::send(const Argv& argv) {
  append(argv);
  flush();
}

std::vector<Reply> Connection::read_available() {
  if (redisBufferRead(c_) != REDIS_OK) lost("reading");
  std::vector<Reply> replies;
  for (;;) {
    void* r = nullptr;
    if (redisGetReplyFromReader(c_, &r) != REDIS_OK) lost("reading");
    if (r == nullptr) break;
    replies.emplace_back(static_cast<redisReply*>(r));
  }
  return replies;
}

int Connection::fd() const {
  return c_->fd;
}

bool Connection::stale() const {
  pollfd p{c_->fd, POLLIN, 0};
  // Nothing is ever unasked on a command connection, so readable means closed (or junk).
  return broken_ || poll(&p, 1, 0) != 0;
}

}  // namespace ptl::core::redis
