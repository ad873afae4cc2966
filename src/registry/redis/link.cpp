#include "registry/redis/link.hpp"

#include <algorithm>

#include "log/log.hpp"
#include "registry/redis/script.hpp"

namespace ptl::core::redis {
namespace {

constexpr Nanos kMinBackoff = 25'000'000;
constexpr Nanos kMaxBackoff = 1'000'000'000;
constexpr size_t kMaxIdle = 32;  // more idle connections than this are closed

bool is_noscript(const Reply& r) {
  return r.is_error() && r.str().starts_with("NOSCRIPT");
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
    std::lock_guard<std::mutex> lock(mutex_);
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
    std::lock_guard<std::mutex> lock(mutex_);
    if (backoff_ != 0) log::logger().info("redis {}: connected again", options_.where());
    backoff_ = 0;
    down_until_ = 0;
    return c;
  } catch (const BackendDown& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
    down_until_ = monotonic_now() + backoff_;
    if (last_failure_ != e.what()) log::logger().warn("{}", e.what());
    last_failure_ = e.what();
    throw;
  }
}

void Link::give(std::unique_ptr<Connection> c) {
  std::lock_guard<std::mutex> lock(mutex_);
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

void Link::load_script(Connection& c) {
  const Reply r = c.command({"SCRIPT", "LOAD", limiter_script()});
  if (r.is_error()) server_error(r, "SCRIPT LOAD");
  std::lock_guard<std::mutex> lock(mutex_);
  sha_ = r.str();
}

void Link::check() {
  Lease c(*this);
  // PING first: a server that wants a password refuses a long unauthenticated command
  // with a protocol error instead of NOAUTH, which would hide the real problem.
  const Reply pong = c->command({"PING"});
  if (pong.is_error()) server_error(pong, "PING");
  load_script(*c);
}

Reply Link::eval(const Argv& keys, const Argv& args) {
  Lease c(*this);
  std::string sha;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sha = sha_;
  }
  if (sha.empty()) {
    load_script(*c);
    std::lock_guard<std::mutex> lock(mutex_);
    sha = sha_;
  }
  const std::string nkeys = std::to_string(keys.size());
  Argv argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.emplace_back(sha);
  argv.emplace_back(nkeys);
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  Reply r = c->command(argv);
  if (is_noscript(r)) {
    // The server restarted or flushed its scripts; NOSCRIPT means nothing ran, so the
    // call is safe to repeat once the script is back.
    load_script(*c);
    r = c->command(argv);
  }
  if (r.is_error()) server_error(r, "limiter script");
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
