// SPDX-License-Identifier: MIT
#include "registry/redis/link.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>

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
// Calls in one batch at most: bounds the leader's stack and one write; later calls go
// in the next batch.
constexpr size_t kMaxBatch = 128;

// The server does not have the code (it restarted, SCRIPT FLUSH, FUNCTION FLUSH) or cannot
// run it the way it was loaded (restarted as an older version). Nothing ran, so the call
// is safe to repeat once the code is loaded again.
bool lost_code(const Reply& r) {
  if (!r.is_error()) return false;
  const std::string_view e = r.str();
  return e.starts_with("NOSCRIPT") || e.find("Function not found") != std::string_view::npos ||
         e.starts_with("ERR unknown command");
}

// A caller waits for its batch on a word of its own (a private futex), not on a
// condition variable under the batch's mutex: the leader wakes it with one system call
// and without holding the mutex, so the woken caller does not queue for that mutex
// behind the leader and the callers woken before it (a condition variable notified under
// the mutex costs each caller two more futex calls and a context switch).
void wait_while(std::atomic<uint32_t>& word, uint32_t value) {
  while (word.load(std::memory_order_acquire) == value) {
    // Returns at once if the word changed meanwhile; a spurious return loops.
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, value, nullptr,
            nullptr, 0);
  }
}

// Sets the word and wakes its waiter. The waiter may see the value before the wake and
// return, ending the word's life (it is on the waiter's stack): the wake then reaches at
// most another waiter on that address, which loops (every futex waiter allows spurious
// wake-ups), and never touches memory (the kernel only looks the address up).
void set_and_wake(std::atomic<uint32_t>& word, uint32_t value) {
  std::atomic<uint32_t>* const at = &word;
  at->store(value, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(at), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
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

// One caller's command in a batch. It lives on the caller's stack; the caller waits until
// the leader has set its state to kLead or kDone, and the leader touches nothing of it
// after that (set_and_wake).
struct Link::Call {
  static constexpr uint32_t kQueued = 0;
  static constexpr uint32_t kLead = 1;  // leads the next batch
  static constexpr uint32_t kDone = 2;  // reply or error set
  std::string_view resp;                // the formatted command, in the caller's buffer
  std::atomic<uint32_t> state{kQueued};
  Call* next = nullptr;      // in the queue, under batch_mutex_
  Reply reply;               // set by the leader before kDone
  std::exception_ptr error;  // or this, if the reply was not read
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

Link::PipelineStats Link::pipeline_stats() {
  MutexLock lock(batch_mutex_);
  PipelineStats s = stats_;
  s.queued = queued_;
  s.in_flight = leading_;
  return s;
}

Reply Link::submit(std::string_view resp) {
  Call me;
  me.resp = resp;
  bool lead_now = false;
  {
    MutexLock lock(batch_mutex_);
    if (leading_) {
      // A batch is in flight: wait for the next one, led by whoever queued first.
      if (queue_tail_ != nullptr) {
        queue_tail_->next = &me;
      } else {
        queue_head_ = &me;
      }
      queue_tail_ = &me;
      ++queued_;
    } else {
      leading_ = true;
      lead_now = true;
    }
  }
  if (!lead_now) {
    wait_while(me.state, Call::kQueued);
    lead_now = me.state.load(std::memory_order_acquire) == Call::kLead;
  }
  if (lead_now) lead(me);
  if (me.error) std::rethrow_exception(me.error);
  return std::move(me.reply);
}

// Sends `me` and every call queued now as one batch, delivers every reply, then passes
// the lead to the first call queued meanwhile (or ends it). Nothing here throws: a
// leader that left without passing the lead on would leave its queue waiting for good.
void Link::lead(Call& me) {
  Call* batch[kMaxBatch];
  size_t n = 0;
  batch[n++] = &me;
  {
    MutexLock lock(batch_mutex_);
    while (queue_head_ != nullptr && n < kMaxBatch) {
      batch[n++] = queue_head_;
      queue_head_ = queue_head_->next;
      --queued_;
    }
    if (queue_head_ == nullptr) queue_tail_ = nullptr;
    ++stats_.batches;
    stats_.calls += n;
    stats_.largest = std::max(stats_.largest, n);
  }
  send_batch(batch, n);
  Call* next = nullptr;
  {
    MutexLock lock(batch_mutex_);
    if (queue_head_ != nullptr) {
      next = queue_head_;
      queue_head_ = next->next;
      if (queue_head_ == nullptr) queue_tail_ = nullptr;
      --queued_;
    } else {
      leading_ = false;
    }
  }
  // Outside the mutex: the callers woken do not wait for it.
  for (size_t i = 1; i < n; ++i) set_and_wake(batch[i]->state, Call::kDone);
  if (next != nullptr) set_and_wake(next->state, Call::kLead);
}

// One write for every call of the batch, then their replies in order. A call whose reply
// was read has it, whatever happens to the ones after it; the others get the failure, each
// its own copy made from a new string: copies of one exception share their message's
// buffer (libstdc++'s runtime_error counts references to it), which callers on several
// threads would then free between them, correct but out of ThreadSanitizer's sight.
void Link::send_batch(Call* const* calls, size_t n) {
  size_t read = 0;
  try {
    Lease c(*this);
    for (size_t i = 0; i < n; ++i) c->queue(calls[i]->resp);
    for (; read < n; ++read) calls[read]->reply = c->read_reply();
  } catch (const BackendDown& e) {
    for (size_t i = read; i < n; ++i) {
      calls[i]->error = std::make_exception_ptr(BackendDown(std::string(e.what())));
    }
  } catch (const StatusError& e) {
    for (size_t i = read; i < n; ++i) {
      calls[i]->error = std::make_exception_ptr(StatusError(e.status(), std::string(e.what())));
    }
  } catch (...) {
    for (size_t i = read; i < n; ++i) calls[i]->error = std::current_exception();
  }
}

Reply Link::submit_code(const Argv& keys, const Argv& args) {
  std::string sha;  // the script's, when there are no functions
  bool functions = false;
  {
    MutexLock lock(mutex_);
    functions = functions_;
    if (!functions) sha = sha_;
  }
  char nkeys[8];
  const int n = std::snprintf(nkeys, sizeof nkeys, "%zu", keys.size());
  // Buffers of the thread: no allocation per call once they have grown. The formatted
  // command stays in `resp` until the batch has sent it (this thread waits until then).
  thread_local Argv argv;
  thread_local std::string resp;
  argv.clear();
  argv.emplace_back(functions ? "FCALL" : "EVALSHA");
  argv.emplace_back(functions ? limiter_function() : std::string_view(sha));
  argv.emplace_back(nkeys, static_cast<size_t>(n));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  Connection::format(argv, resp);
  Reply r = submit(resp);
  if (resp.capacity() > 4096) std::string().swap(resp);  // a big call once: keep no big buffer
  return r;
}

Reply Link::eval(const Argv& keys, const Argv& args) {
  bool loaded = false;
  {
    MutexLock lock(mutex_);
    loaded = loaded_;
  }
  if (!loaded) {
    Lease c(*this);
    load_code(*c);
  }
  Reply r = submit_code(keys, args);
  if (lost_code(r)) {
    // Every call of the batch may have found the code gone; each loads it again (a
    // second load finds it there) and repeats its own call: nothing of them ran.
    {
      Lease c(*this);
      load_code(*c);
    }
    r = submit_code(keys, args);
  }
  if (r.is_error()) server_error(r, "limiter code");
  return r;
}

Reply Link::command(const Argv& argv) {
  thread_local std::string resp;
  Connection::format(argv, resp);
  Reply r = submit(resp);
  if (resp.capacity() > 4096) std::string().swap(resp);
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
