// SPDX-License-Identifier: MIT
// Calls of one process that arrive together go out in one batch (ADR 21): the link's
// group commit, and the limiter's guarantees with many threads on one registry.
//
// The link tests make a batch happen for certain instead of hoping for one: the server
// is paused for writes (CLIENT PAUSE WRITE), so the first call stays in flight while the
// test waits until the others are queued behind it; on CLIENT UNPAUSE they all go out
// as the next batch. Nothing here depends on how fast the machine is.
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/status.hpp"
#include "grant_observer.hpp"
#include "redis_util.hpp"
#include "registry/redis/link.hpp"

namespace ptl_test {
namespace {

namespace r = ptl::core::redis;

// A Link of its own on the test server (no registry: nothing else uses its connections).
r::RedisOptions options(const std::string& query = "") {
  return r::parse_redis_uri(redis().uri(query));
}

// Waits until `n` calls wait behind the batch in flight.
void wait_queued(r::Link& link, size_t n) {
  ASSERT_TRUE(wait_until([&] {
    const r::Link::PipelineStats s = link.pipeline_stats();
    return s.in_flight && s.queued == n;
  })) << "queued "
      << link.pipeline_stats().queued << " of " << n;
}

// What a call through the link ended with: its reply's text, or its error.
struct Outcome {
  std::string text;
  bool backend_down = false;
  bool failed = false;
};

Outcome call(r::Link& link, const std::vector<std::string>& words) {
  r::Argv argv(words.begin(), words.end());
  Outcome o;
  try {
    o.text = std::string(link.command(argv).str());
  } catch (const r::BackendDown& e) {
    o.backend_down = o.failed = true;
    o.text = e.what();
  } catch (const ptl::core::StatusError& e) {
    o.failed = true;
    o.text = e.what();
  }
  return o;
}

// The first call of the pause: a write, so the server holds it until CLIENT UNPAUSE.
std::thread first_call_held(r::Link& link, RedisClient& admin, const std::string& key) {
  EXPECT_EQ(admin.command({"CLIENT", "PAUSE", "60000", "WRITE"}), "OK");
  std::thread t([&link, key] { EXPECT_FALSE(call(link, {"INCR", key}).failed); });
  EXPECT_TRUE(wait_until([&] { return link.pipeline_stats().in_flight; }));
  return t;
}

TEST(RedisBatch, EachCallerGetsItsOwnReplyAndOnlyItsOwnError) {
  r::Link link(options());
  RedisClient admin(redis().port());
  std::thread first = first_call_held(link, admin, "batch-own-first");
  // 15 callers queue behind it: ECHOes of their own text and commands the server refuses,
  // each naming its caller in the error.
  constexpr int kCallers = 15;
  std::vector<Outcome> got(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&link, &got, i] {
      const std::string me = std::to_string(i);
      got[i] =
          i % 3 == 1 ? call(link, {"NOSUCHCOMMAND-" + me}) : call(link, {"ECHO", "from-" + me});
    });
  }
  wait_queued(link, kCallers);
  EXPECT_EQ(admin.command({"CLIENT", "UNPAUSE"}), "OK");
  first.join();
  for (std::thread& t : callers) t.join();
  for (int i = 0; i < kCallers; ++i) {
    const std::string me = std::to_string(i);
    if (i % 3 == 1) {
      EXPECT_TRUE(got[i].failed && !got[i].backend_down) << i << ": " << got[i].text;
      EXPECT_NE(got[i].text.find("NOSUCHCOMMAND-" + me), std::string::npos) << got[i].text;
    } else {
      EXPECT_FALSE(got[i].failed) << i << ": " << got[i].text;
      EXPECT_EQ(got[i].text, "from-" + me);
    }
  }
  const r::Link::PipelineStats s = link.pipeline_stats();
  EXPECT_EQ(s.largest, static_cast<size_t>(kCallers)) << "the queued calls were not one batch";
  EXPECT_EQ(s.batches, 2u);
  EXPECT_EQ(s.calls, kCallers + 1u);
  EXPECT_FALSE(s.in_flight);
  EXPECT_EQ(s.queued, 0u);
}

// The id of a client the server holds (flags b: blocked, or postponed by a pause) in
// `command`, or "" if there is none yet.
std::string blocked_client(RedisClient& admin, const std::string& command) {
  const std::string list = admin.command({"CLIENT", "LIST", "TYPE", "normal"});
  size_t from = 0;
  while (from < list.size()) {
    size_t to = list.find('\n', from);
    if (to == std::string::npos) to = list.size();
    const std::string line = " " + list.substr(from, to - from) + " ";
    from = to + 1;
    const size_t flags = line.find(" flags=");
    if (line.find(" cmd=" + command + " ") == std::string::npos || flags == std::string::npos ||
        line.substr(flags + 7, line.find(' ', flags + 1) - flags - 7).find('b') ==
            std::string::npos) {
      continue;
    }
    const size_t id = line.find(" id=");
    return line.substr(id + 4, line.find(' ', id + 1) - id - 4);
  }
  return "";
}

TEST(RedisBatch, ABrokenConnectionFailsOnlyTheCallsWhoseRepliesWereNotRead) {
  // A long timeout: the connection must break because the test kills it, not time out.
  r::Link link(options("timeout=60"));
  RedisClient admin(redis().port());
  admin.command({"DEL", "batch-broken-list"});
  std::thread first = first_call_held(link, admin, "batch-broken-first");
  // The next batch, in this order: an ECHO answered at once, a BLPOP the server never
  // answers (nothing will be pushed), and an ECHO behind it.
  Outcome a;
  Outcome b;
  Outcome c;
  std::thread ta([&] { a = call(link, {"ECHO", "a"}); });
  wait_queued(link, 1);
  std::thread tb([&] { b = call(link, {"BLPOP", "batch-broken-list", "0"}); });
  wait_queued(link, 2);
  std::thread tc([&] { c = call(link, {"ECHO", "c"}); });
  wait_queued(link, 3);
  EXPECT_EQ(admin.command({"CLIENT", "UNPAUSE"}), "OK");
  first.join();
  std::string id;
  ASSERT_TRUE(wait_until([&] { return !(id = blocked_client(admin, "blpop")).empty(); }));
  EXPECT_EQ(admin.command({"CLIENT", "KILL", "ID", id}), "1");
  ta.join();
  tb.join();
  tc.join();
  EXPECT_FALSE(a.failed) << a.text;
  EXPECT_EQ(a.text, "a") << "a reply read before the break belongs to its caller";
  EXPECT_TRUE(b.backend_down) << b.text;
  EXPECT_TRUE(c.backend_down) << "a call whose reply was not read must fail: " << c.text;
  EXPECT_EQ(link.pipeline_stats().largest, 3u);
  // The broken connection is gone; the next call gets a fresh one.
  const Outcome after = call(link, {"ECHO", "after"});
  EXPECT_FALSE(after.failed) << after.text;
  EXPECT_EQ(after.text, "after");
}

// N grants whose whole [t_before, t_after] fit in less than one window: each was granted
// within that span of server time, so more than the limit of them is a certain violation
// (the check cannot fail a correct limiter, however late the threads ran).
size_t max_certainly_within(const std::vector<GrantRecord>& records, int64_t window_ns) {
  size_t best = 0;
  for (const GrantRecord& first : records) {
    size_t n = 0;
    for (const GrantRecord& g : records) {
      if (g.t_before >= first.t_before && g.t_after < first.t_before + window_ns) ++n;
    }
    best = std::max(best, n);
  }
  return best;
}

// Many threads on one limiter through one registry: every call of theirs shares the
// registry's link, so they go out in batches. Nothing may go over the limits, nothing be
// lost (every grant released once, nothing in flight at the end).
void hammer(uint32_t max_concurrent, uint64_t per_window, double window_s, int threads,
            int grants_each) {
  RedisReg reg;
  const std::string name = unique_name("batch-hammer");
  ptl_limiter_config cfg = make_cfg(max_concurrent, per_window, window_s);
  Lim lim = redis_limiter(reg, name.c_str(), cfg);
  GrantObserver observer(static_cast<size_t>(threads * grants_each));
  std::atomic<int> acquired{0};
  std::atomic<int> released{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < grants_each; ++i) {
        ptl_permit p;
        const int64_t before = mono_ns();
        // Every third call a try_acquire: it is batched too, and must not queue.
        int rc = PTL_EAGAIN;
        if (i % 3 == 2) rc = ptl_try_acquire(lim, &p, nullptr);
        if (rc == PTL_EAGAIN) rc = ptl_acquire(lim, 60 * kSec, &p);
        if (rc != PTL_OK) {
          ++failures;
          std::fprintf(stderr, "thread %d: %s\n", t, ptl_last_error());
          continue;
        }
        ++acquired;
        observer.on_grant(before, 1, t);
        std::this_thread::yield();  // hold it a moment: the others run meanwhile
        observer.on_release();
        if (ptl_release(lim, p) == PTL_OK) {
          ++released;
        } else {
          ++failures;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(acquired.load(), threads * grants_each);
  EXPECT_EQ(released.load(), acquired.load());
  EXPECT_LE(observer.max_in_flight(), static_cast<int64_t>(max_concurrent));
  if (per_window != 0) {
    EXPECT_LE(max_certainly_within(observer.records(), static_cast<int64_t>(window_s * 1e9)),
              per_window);
  }
  const ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

TEST(RedisBatch, ManyThreadsOnOneLimiterStayWithinConcurrency) {
  hammer(3, 0, 60.0, 16, 150);
}

TEST(RedisBatch, ManyThreadsOnOneLimiterStayWithinTheWindow) {
  hammer(4, 25, 0.2, 12, 25);
}

// A batch of releases and acquires cut off by a broken connection: the releases are kept
// and delivered by the heartbeat (the permits come back), the acquires fail with
// PTL_EBACKEND and leave nothing behind.
TEST(RedisBatch, ABrokenBatchLosesNoPermit) {
  constexpr int kHolders = 4;
  constexpr int kTakers = 4;
  RedisReg reg;
  const std::string name = unique_name("batch-broken");
  Lim lim = redis_limiter(reg, name.c_str(), make_cfg(kHolders + kTakers));
  std::vector<ptl_permit> held(kHolders);
  for (ptl_permit& p : held) {
    ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK) << ptl_last_error();
  }
  RedisClient admin(redis().port());
  ASSERT_EQ(admin.command({"CLIENT", "PAUSE", "60000", "WRITE"}), "OK");
  auto take_one = [&lim](int* rc) {
    ptl_permit p;
    *rc = ptl_try_acquire(lim, &p, nullptr);
    if (*rc == PTL_OK) ptl_release(lim, p);
  };
  // One acquire in flight alone, held by the pause; the releases and the other acquires
  // queue behind it in the registry's link.
  int first = -1;
  std::thread first_taker(take_one, &first);
  std::string held_id;
  ASSERT_TRUE(wait_until([&] { return !(held_id = blocked_client(admin, "fcall")).empty(); }));
  std::vector<int> released(kHolders, -1);
  std::vector<int> taken(kTakers, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kHolders; ++i) {
    threads.emplace_back([&, i] { released[i] = ptl_release(lim, held[i]); });
  }
  for (int i = 0; i < kTakers; ++i) threads.emplace_back(take_one, &taken[i]);
  // Only so that they are queued when the first batch ends (one that is late goes in a
  // later batch, which the pause holds too, so the test does not depend on it).
  sleep_ns(50 * kMs);
  // Cut the first batch: its acquire fails. The queued calls go out as the next batch,
  // on a new connection, which the pause holds as well: cut it too.
  EXPECT_EQ(admin.command({"CLIENT", "KILL", "ID", held_id}), "1");
  first_taker.join();
  EXPECT_EQ(first, PTL_EBACKEND) << ptl_status_name(first);
  std::string batch_id;
  ASSERT_TRUE(wait_until([&] {
    batch_id = blocked_client(admin, "fcall");
    return !batch_id.empty() && batch_id != held_id;
  }));
  EXPECT_EQ(admin.command({"CLIENT", "KILL", "ID", batch_id}), "1");
  admin.command({"CLIENT", "UNPAUSE"});
  for (std::thread& t : threads) t.join();
  for (int rc : released) EXPECT_EQ(rc, PTL_OK) << "a release is kept when the server is away";
  for (int rc : taken) {
    EXPECT_TRUE(rc == PTL_OK || rc == PTL_EBACKEND) << ptl_status_name(rc);
  }
  // The kept releases reach the server with the next heartbeat; nothing stays in flight.
  EXPECT_TRUE(wait_until([&] { return stats_of(lim).in_flight == 0; }, 30 * kSec))
      << stats_of(lim).in_flight << " permits lost";
  std::vector<ptl_permit> all(kHolders + kTakers);
  for (ptl_permit& p : all)
    EXPECT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK) << ptl_last_error();
  for (ptl_permit p : all) EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

// A reply lost after the server granted: the call times out on the client (the server is
// busy), the server runs it afterwards and grants it to the session, and the process keeps
// heartbeating for the permit it really holds. Nothing would reap that grant, so the
// acquire that failed makes the next heartbeat a sync, which frees what the process does
// not hold. A limiter without that sync keeps the grant for as long as the holder lives.
TEST(RedisBatch, AGrantWhoseReplyWasLostIsFreedByTheNextHeartbeat) {
  // Calls time out after 50 ms; the lease of 6 s means a heartbeat every 2 s, a sync only
  // when the last contact is 4 s old, and no session expires while the server is busy for
  // 300 ms below.
  RedisReg reg("timeout=0.05&lease=6");
  const std::string name = unique_name("lost-reply");
  Lim lim = redis_limiter(reg, name.c_str(), make_cfg(4));
  ptl_permit held;
  ASSERT_EQ(ptl_try_acquire(lim, &held, nullptr), PTL_OK) << ptl_last_error();
  // The session's first heartbeat is a sync whatever happened; let it pass, so that the
  // one after the lost reply is a plain beat unless the failed acquire asks for a sync.
  sleep_ns(2500 * kMs);
  const ptl_limiter_stats before = stats_of(lim);
  // A script that keeps the server busy for 300 ms: commands sent meanwhile wait unread.
  RedisClient admin(redis().port());
  std::thread busy([&admin] {
    admin.command({"EVAL",
                   "local t = redis.call('TIME') local t0 = t[1] * 1e6 + t[2] "
                   "repeat t = redis.call('TIME') until t[1] * 1e6 + t[2] - t0 >= 300000 "
                   "return 1",
                   "0"});
  });
  sleep_ns(100 * kMs);  // the script runs (for 200 ms more)
  ptl_permit lost;
  EXPECT_EQ(ptl_try_acquire(lim, &lost, nullptr), PTL_EBACKEND) << "the reply cannot come in time";
  busy.join();
  // The server did grant it once it could: a second acquire was counted.
  EXPECT_TRUE(wait_until([&] { return stats_of(lim).total_acquired == before.total_acquired + 1; },
                         10 * kSec))
      << "the timed-out acquire never reached the server; the test proves nothing";
  // Then the next heartbeat (within 2 s) frees it, while the permit really held stays held.
  EXPECT_TRUE(wait_until([&] { return stats_of(lim).in_flight == 1; }, 5 * kSec))
      << stats_of(lim).in_flight << " in flight: the lost grant is stranded";
  EXPECT_EQ(stats_of(lim).in_flight, 1u);
  EXPECT_EQ(ptl_release(lim, held), PTL_OK);
  EXPECT_TRUE(wait_until([&] { return stats_of(lim).in_flight == 0; }, 10 * kSec));
}

}  // namespace
}  // namespace ptl_test
