#include "registry/redis/link.hpp"

#include <algorithm>
#include <cstdio>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/script.hpp"

namespace ptl::core::redis {
namespace {

constexpr Nanos kMinBackoff = 25'000'000;
// At most half a second: releases kept while the server was away reach it, and so free
// their capacity, within 1 s of its answering again (the heartbeat retries every 200 ms).
constexpr Nanos kMaxBackoff = 500'000'000;
constexpr size_t kMaxIdle = 32;  // more idle connections than this are closed

// The server does not have the code (it restarted, SCRIPT FLUSH, FUNCTION FLUSH) or cannot
// run it the way it was loaded (restarted as an older version). Nothing ran, so the call
// is safe to repeat once the code is loaded again.
bool lost_code(const Reply& r) {
  if (!r.is_error()) return false;
  const std::string_view e = r.str();
  return e.starts_with("NOSCRIPT") || e.find("Function not found") != std::string_view::npos ||
         e.starts_with("ERR unknown command");
}

}  // namespace

// A connection out of the pool for one call; back into it when the call ends, unless the
// connection broke (then it is dropped, and the next call opens a fresh one).
class Link::Lease {
 public:
  explicit Lease(Link& link) : link_(link), conn_(link.take()) {}
  ~Lease() {
    if (!conn_->broken()) link_.give(std::move(conn_));
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }

 private:
  Link& link_;
  std::unique_ptr<Connection> conn_;
};

Link::Link(const RedisOptions& options) : options_(options) {}

Link::~Link() = default;

std::unique_ptr<Connection> Link::take() {
  {
    MutexLock lock(mutex_);
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (!c->stale()) return c;  // a server restart leaves closed connections behind
    }
    const Nanos now = monotonic_now();
    if (now < down_until_) {
      throw BackendDown(last_failure_ + " (next attempt in " +
                        std::to_string((down_until_ - now) / 1'000'000 + 1) + " ms)");
    }
  }
  try {
    std::unique_ptr<Connection> c = Connection::open(options_);
    MutexLock lock(mutex_);
    if (backoff_ != 0) log::logger().info("redis {}: connected again", options_.where());
    backoff_ = 0;
    down_until_ = 0;
    return c;
  } catch (const BackendDown& e) {
    MutexLock lock(mutex_);
    backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
    down_until_ = monotonic_now() + backoff_;
    if (last_failure_ != e.what()) log::logger().warn("{}", e.what());
    last_failure_ = e.what();
    throw;
  }
}

void Link::give(std::unique_ptr<Connection> c) {
  MutexLock lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

void Link::server_error(const Reply& r, std::string_view doing) const {
  std::string msg =
      "redis " + options_.where() + ": " + std::string(doing) + ": " + r.view().describe();
  if (r.str().starts_with("NOAUTH") || r.str().find("unauthenticated") != std::string_view::npos) {
    msg += " (the server wants a password: redis://:PASSWORD@HOST:PORT)";
  }
  // A server still loading its data answers again shortly: treat it as away.
  if (r.str().starts_with("LOADING")) throw BackendDown(msg);
  fail(Status::kBackend, msg);
}

void Link::load_code(Connection& c) {
  bool try_functions = false;
  {
    MutexLock lock(mutex_);
    try_functions = !no_functions_;
  }
  if (try_functions) {
    const Reply r = c.command({"FUNCTION", "LOAD", limiter_library()});
    // "already exists": a client with the same code loaded it first.
    if (!r.is_error() || r.str().find("already exists") != std::string_view::npos) {
      MutexLock lock(mutex_);
      functions_ = true;
      loaded_ = true;
      return;
    }
    // A server loading its data or running a long script answers again shortly.
    if (r.str().starts_with("LOADING") || r.str().starts_with("BUSY")) {
      server_error(r, "FUNCTION LOAD");
    }
    // No functions (before 7.0), or not for this user: the same code as a script.
    std::string_view why = r.str();
    why = why.substr(0, why.find(", with args"));  // not the code it echoes
    log::logger().info("redis {}: FUNCTION LOAD: {}; the limiter runs as a script (EVALSHA)",
                       options_.where(), why);
    MutexLock lock(mutex_);
    no_functions_ = true;
  }
  const Reply r = c.command({"SCRIPT", "LOAD", limiter_script()});
  if (r.is_error()) server_error(r, "SCRIPT LOAD");
  MutexLock lock(mutex_);
  sha_ = r.str();
  functions_ = false;
  loaded_ = true;
}

void Link::check() {
  Lease c(*this);
  // PING first: a server that wants a password refuses a long unauthenticated command
  // with a protocol error instead of NOAUTH, which would hide the real problem.
  const Reply pong = c->command({"PING"});
  if (pong.is_error()) server_error(pong, "PING");
  load_code(*c);
}

Reply Link::call_code(Connection& c, const Argv& keys, const Argv& args) {
  std::string sha;  // the script's, when there are no functions
  bool functions = false;
  {
    MutexLock lock(mutex_);
    functions = functions_;
    if (!functions) sha = sha_;
  }
  char nkeys[8];
  const int n = std::snprintf(nkeys, sizeof nkeys, "%zu", keys.size());
  // One buffer per thread: no allocation per call once it has grown.
  thread_local Argv argv;
  argv.clear();
  argv.emplace_back(functions ? "FCALL" : "EVALSHA");
  argv.emplace_back(functions ? limiter_function() : std::string_view(sha));
  argv.emplace_back(nkeys, static_cast<size_t>(n));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return c.command(argv);
}

Reply Link::eval(const Argv& keys, const Argv& args) {
  Lease c(*this);
  bool loaded = false;
  {
    MutexLock lock(mutex_);
    loaded = loaded_;
  }
  if (!loaded) load_code(*c);
  Reply r = call_code(*c, keys, args);
  if (lost_code(r)) {
    load_code(*c);
    r = call_code(*c, keys, args);
  }
  if (r.is_error()) server_error(r, "limiter code");
  return r;
}

Reply Link::command(const Argv& argv) {
  Lease c(*this);
  Reply r = c->command(argv);
  if (r.is_error()) server_error(r, argv.empty() ? "" : argv[0]);
  return r;
}

std::vector<Reply> Link::pipeline(const std::vector<Argv>& commands) {
  Lease c(*this);
  std::vector<Reply> replies = c->pipeline(commands);
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_error()) server_error(replies[i], commands[i].empty() ? "" : commands[i][0]);
  }
  return replies;
}

}  // namespace ptl::core::redis
