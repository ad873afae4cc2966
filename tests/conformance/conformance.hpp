// SPDX-License-Identifier: MIT
// The C ABI conformance suite: every TEST_P of this folder runs against each registry
// backend (the C ABI's semantics and guarantees are the same on every backend), through a
// registry of its own: local:, shm://<a segment of this test> and, when built with
// PTL_WITH_REDIS, redis://127.0.0.1:<the test's redis-server>?prefix=<a prefix of this
// test>. What legitimately differs between backends is stated once, in Backend.
#pragma once

#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "capi_util.hpp"
#include "limiter_util.hpp"
#include "manual_clock.hpp"

namespace ptl_test {

enum class Kind { kLocal, kShm, kRedis };

// A backend and its documented differences (ADR 3 for local:, 8 for shm://, 9 for redis://).
struct Backend {
  Kind kind;
  const char* name;  // the instantiation's name: Local, Shm, Redis
  // A second ptl_registry_open of the same URI reaches the same limiters (shm://, redis://).
  // "local:" opens a new private registry each time.
  bool shared_uri;
  // What calls through a handle of a removed limiter return, its waiters included:
  // PTL_OK where the handle keeps working on the detached limiter (local:).
  int removed_status;
  // What the message of removed_status says (besides the limiter's name).
  const char* removed_message;
  // A handle kept across a remove works on the limiter created again under its name
  // (redis://: handles are bound to names).
  bool handle_follows_name;
  // A permit may be released through a handle of another registry sharing the limiter
  // (shm://: any process may). On redis:// permits are local to the registry that took
  // them (it renews their leases); another registry's handle answers PTL_EINVAL.
  bool release_anywhere;
  // get and get_or_create of one name through one registry return one object (local:,
  // redis://); shm:// returns a new handle each time.
  bool one_object_per_name;
  // Dropping a handle completes its pending async acquires with PTL_ECLOSED although the
  // registry still holds the limiter (shm://: the handle is the unit of the process).
  bool unref_completes_pending;
  // Async grants handed over by a release run on the releasing thread (local:), not on a
  // library thread (the shm:// agent, the redis:// subscriber).
  bool callback_on_releaser;
  // The largest limit the backend holds exactly (redis://: Lua numbers are doubles).
  uint64_t max_limit;
  // True if p has the form of this backend's permits.
  bool (*own_permit)(ptl_permit p);
};

// The backends of this build, in instantiation order.
const std::vector<Backend>& backends();
std::string backend_name(const ::testing::TestParamInfo<Backend>& info);
void PrintTo(const Backend& b, std::ostream* os);

// The fixture: a fresh registry per test, closed (and its segment or keys removed) after.
class Conformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  const Backend& backend() const { return GetParam(); }
  ptl_registry* reg() const { return reg_; }
  const std::string& uri() const { return uri_; }

  // Another registry that shares reg()'s limiters: a second registry on the same URI, the
  // in-process stand-in for another process. For local: it is reg() itself.
  ptl_registry* peer();
  // A registry of the same backend that shares nothing with reg().
  ptl_registry* other();
  // A new registry on the URI of reg(), which the test closes itself with ptl_registry_close
  // (for local: a new private registry).
  ptl_registry* open_own();

 public:
  // ---- time (ADR 19); public for the helpers of a suite ----
  // Puts the test on the time its backend's windows, timeouts and penalties are tested on
  // (call it first, before make()). local:: simulated time, a ManualClock that moves only
  // in advance(); reg() is opened anew on it, and limiter_now() (Holder, Req,
  // refused_before) reads it. shm:// and redis:// keep real time: their clocks are shared
  // by the processes of a host, or are the Redis server's.
  void use_test_time();
  bool simulated() const { return clock_ != nullptr; }
  // The time the limiters read, in ns.
  int64_t now() const { return clock_ ? clock_->now() : mono_ns(); }
  // Lets d ns pass: advances the ManualClock, running the timers then due on this thread
  // (async deadlines, wake-ups), or sleeps at least d. advance_to: until now() >= t.
  void advance(int64_t d);
  void advance_to(int64_t t);
  // For a call blocked in h that must end at `at` and not before: brings the time to
  // at - 1 ns and checks that h has not ended (simulated time: still blocked after 20 ms
  // of real time; real time: if it ended, then not before `at`), then to `at`, waits for
  // h to end and checks it ended at `at` (on real time: not before). False if it did not end.
  bool ends_at(Holder& h, int64_t at);

 protected:
  // Registers cfg under name (a fresh one if empty) in reg() and returns a handle to it.
  Lim make(const ptl_limiter_config& cfg, std::string name = "");
  // Registers a policy of `limits` under name (fresh if empty) in reg(); a handle to it.
  Lim make_policy(const std::vector<ptl_limit>& limits, std::string name = "");
  // A handle to name through r.
  static Lim get(ptl_registry* r, const std::string& name);

 private:
  std::string fresh_uri();
  ptl_registry* open(const std::string& uri, bool reset_at_end);

  struct Opened {
    ptl_registry* reg;
    bool reset_at_end;  // redis://: removes the keys of the test's prefix
  };
  std::unique_ptr<ManualClock> clock_;  // local: on simulated time only
  std::string uri_;
  ptl_registry* reg_ = nullptr;
  std::vector<Opened> opened_;
  std::vector<std::string> segments_;
  int next_name_ = 0;
  bool made_ = false;  // make() or make_policy() was called
};

}  // namespace ptl_test

// Declares a suite of the conformance tests and instantiates it for every backend; its
// tests are named Conformance/SUITE.TEST/BACKEND.
#define PTL_CONFORMANCE_SUITE(Suite)                                                        \
  class Suite : public ::ptl_test::Conformance {};                                          \
  INSTANTIATE_TEST_SUITE_P(Conformance, Suite, ::testing::ValuesIn(::ptl_test::backends()), \
                           ::ptl_test::backend_name)
