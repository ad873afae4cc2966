// SPDX-License-Identifier: MIT
// Nested and shared limits: flows x calls, and one named quota over several batches.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <thread>
#include <vector>

#include "batch_util.hpp"

namespace {

using ptl_test::batch_options;
using ptl_test::empty_report;

ptl_limiter* make_limiter(uint32_t max_concurrent) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = max_concurrent;
  ptl_limiter* l = nullptr;
  EXPECT_EQ(ptl_limiter_create(&cfg, &l), PTL_OK);
  return l;
}

struct Calls {
  ptl_test::InFlight in_flight;
};

// Long enough that threads started for a child batch (slow under TSan) still overlap
// the calls already running, so "the limit is reached" checks use, not luck.
int call(void* u, ptl_batch*, size_t, uint32_t, int64_t*) {
  auto* c = static_cast<Calls*>(u);
  c->in_flight.enter();
  ptl_test::sleep_us(20000);
  c->in_flight.leave();
  return PTL_OK;
}

TEST(BatchNested, ASharedLimiterCapsTwoBatchesTogether) {
  Calls calls;
  ptl_limiter* openai = make_limiter(10);
  ptl_batch_options o = batch_options(15);  // each batch alone would run 15
  o.shared = openai;
  ptl_batch_report r1 = empty_report(), r2 = empty_report();
  std::thread t1([&] { EXPECT_EQ(ptl_batch_run(&o, 60, call, &calls, nullptr, &r1), PTL_OK); });
  std::thread t2([&] { EXPECT_EQ(ptl_batch_run(&o, 60, call, &calls, nullptr, &r2), PTL_OK); });
  t1.join();
  t2.join();
  EXPECT_LE(calls.in_flight.peak(), 10);
  EXPECT_EQ(calls.in_flight.peak(), 10) << "together they use the whole quota";
  EXPECT_EQ(r1.succeeded + r2.succeeded, 120u);
  ptl_limiter_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(ptl_limiter_stats_get(openai, &st), PTL_OK);
  EXPECT_EQ(st.total_acquired, 120u);
  EXPECT_EQ(st.in_flight, 0u);
  ptl_limiter_unref(openai);
}

struct Flow {
  Calls calls;
  ptl_limiter* shared = nullptr;  // optional cap over every flow's calls
};

// One flow instance: a child batch of 6 calls, at most 3 at once.
int flow_instance(void* u, ptl_batch* parent, size_t index, uint32_t, int64_t*) {
  auto* f = static_cast<Flow*>(u);
  ptl_batch_options o = batch_options(3);
  o.shared = f->shared;
  o.parent = parent;
  o.parent_index = index;
  return ptl_batch_run(&o, 6, call, &f->calls, nullptr, nullptr);
}

TEST(BatchNested, FiveFlowsOfThreeCallsNeverExceedFifteen) {
  Flow flow;
  ptl_batch_options o = batch_options(5);
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_run(&o, 12, flow_instance, &flow, nullptr, &r), PTL_OK);
  EXPECT_LE(flow.calls.in_flight.peak(), 15);
  EXPECT_EQ(flow.calls.in_flight.peak(), 15) << "5 x 3 is reached";
  EXPECT_LE(r.peak_in_flight, 5u);
  EXPECT_EQ(r.succeeded, 12u);
}

TEST(BatchNested, ASharedLimiterCapsNestedFlows) {
  Flow flow;
  flow.shared = make_limiter(10);
  ptl_batch_options o = batch_options(5);
  ASSERT_EQ(ptl_batch_run(&o, 12, flow_instance, &flow, nullptr, nullptr), PTL_OK);
  EXPECT_LE(flow.calls.in_flight.peak(), 10);
  EXPECT_EQ(flow.calls.in_flight.peak(), 10);
  ptl_limiter_unref(flow.shared);
}

// ---- penalize reaches every sharer --------------------------------------------------

TEST(BatchNested, RetryAfterPausesEverySharerOfTheLimiter) {
  ptl_limiter* openai = make_limiter(10);
  const int64_t retry_after_ns = 200'000'000;
  struct Hit {
    int64_t signalled_before = 0;  // the penalty starts after this
  } hit;
  ptl_batch_options o = batch_options(2);
  o.shared = openai;
  auto limited = [](void* u, ptl_batch*, size_t, uint32_t, int64_t* retry_after) -> int {
    static_cast<Hit*>(u)->signalled_before = ptl_test::mono_ns();
    *retry_after = 200'000'000;
    return PTL_ERATELIMITED;
  };
  EXPECT_EQ(ptl_batch_run(&o, 1, limited, &hit, nullptr, nullptr), PTL_EITEMS);
  const int64_t pause_ends_no_earlier = hit.signalled_before + retry_after_ns;

  // Another batch on the same limiter, and a plain acquirer: neither gets a grant
  // before the pause ends.
  ptl_test::GrantObserver seen;
  auto observed = [](void* u, ptl_batch*, size_t, uint32_t, int64_t*) -> int {
    auto* obs = static_cast<ptl_test::GrantObserver*>(u);
    obs->on_grant(ptl_test::mono_ns());
    obs->on_release();
    return PTL_OK;
  };
  std::thread other(
      [&] { EXPECT_EQ(ptl_batch_run(&o, 5, observed, &seen, nullptr, nullptr), PTL_OK); });
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(openai, -1, &p), PTL_OK);
  const int64_t direct_grant = ptl_test::mono_ns();
  ASSERT_EQ(ptl_release(openai, p), PTL_OK);
  other.join();
  EXPECT_GE(direct_grant, pause_ends_no_earlier);
  for (const auto& rec : seen.records()) EXPECT_GE(rec.t_after, pause_ends_no_earlier);
  EXPECT_EQ(seen.grants(), 5u);
  ptl_limiter_unref(openai);
}

}  // namespace
