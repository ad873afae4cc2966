// SPDX-License-Identifier: MIT
// Adaptive concurrency: bounds, growth of at least one, one backoff per wave, changes
// made in place on the live limiter, convergence under an upstream's hidden limit, and
// signals that reach a parent batch.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <mutex>
#include <vector>

#include "batch_util.hpp"

namespace {

using ptl_test::batch_options;
using ptl_test::empty_report;

ptl_adaptive_config adaptive(uint32_t initial, uint32_t min, uint32_t max, uint32_t threshold) {
  ptl_adaptive_config a;
  ptl_adaptive_config_init(&a);
  a.initial_concurrent = initial;
  a.min_concurrent = min;
  a.max_concurrent = max;
  a.recovery_threshold = threshold;
  return a;
}

int succeed(void*, ptl_batch*, size_t, uint32_t, int64_t*) {
  return PTL_OK;
}
int refuse(void*, ptl_batch*, size_t, uint32_t, int64_t*) {
  return 429;  // an HTTP status: the default classification counts it as a rate limit
}

TEST(BatchAdaptive, GrowsByAtLeastOneFromOneUpToMax) {
  ptl_adaptive_config a = adaptive(1, 1, 4, 2);  // int(1 * 1.2) == 1 kept the original at 1
  ptl_batch_options o = batch_options(0);
  o.adaptive = &a;
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_run(&o, 40, succeed, nullptr, nullptr, &r), PTL_OK);
  EXPECT_EQ(r.concurrency, 4u);
  EXPECT_EQ(r.recoveries, 3u) << "1 -> 2 -> 3 -> 4, then capped";
}

TEST(BatchAdaptive, NeverBelowMin) {
  ptl_adaptive_config a = adaptive(8, 2, 8, 3);
  ptl_batch_options o = batch_options(0);
  o.adaptive = &a;
  o.max_attempts = 3;
  ptl_batch_report r = empty_report();
  EXPECT_EQ(ptl_batch_run(&o, 30, refuse, nullptr, nullptr, &r), PTL_EITEMS);
  EXPECT_EQ(r.concurrency, 2u);
  EXPECT_EQ(r.rate_limited, r.attempts) << "every refusal is a signal";
  EXPECT_EQ(r.failed, 30u);
}

// Holds every attempt until `hold` of them are in flight together, then ends them.
struct Wave {
  std::mutex mu;
  std::condition_variable cv;
  size_t entered = 0;
  size_t hold = 0;
  int status_of_wave = 429;
};

TEST(BatchAdaptive, OneWaveOfRefusalsIsOneBackoff) {
  Wave w;
  w.hold = 10;
  ptl_adaptive_config a = adaptive(10, 1, 10, 100);
  ptl_batch_options o = batch_options(0);
  o.adaptive = &a;
  ptl_batch_report r = empty_report();
  auto fn = [](void* u, ptl_batch*, size_t, uint32_t, int64_t*) -> int {
    auto* st = static_cast<Wave*>(u);
    std::unique_lock<std::mutex> lock(st->mu);
    if (++st->entered <= st->hold) {
      st->cv.notify_all();
      st->cv.wait(lock, [st] { return st->entered >= st->hold; });
      return st->status_of_wave;  // the 10 calls of the first wave are all refused
    }
    return PTL_OK;
  };
  EXPECT_EQ(ptl_batch_run(&o, 20, fn, &w, nullptr, &r), PTL_EITEMS);
  EXPECT_EQ(r.rate_limited, 10u);
  EXPECT_EQ(r.backoffs, 1u) << "ten refusals of one wave halve once, not ten times";
  EXPECT_EQ(r.concurrency, 5u);
}

// Completion style makes the order exact: every start happens inside a complete().
struct Starts {
  std::vector<size_t> started;
  static void start(void* u, ptl_batch*, size_t index, uint32_t) {
    static_cast<Starts*>(u)->started.push_back(index);
  }
};

TEST(BatchAdaptive, BackoffCountsTheAttemptsStillInFlight) {
  Starts s;
  ptl_adaptive_config a = adaptive(8, 1, 8, 100);
  ptl_batch_options o = batch_options(0);
  o.adaptive = &a;
  ptl_batch* b = nullptr;
  ASSERT_EQ(ptl_batch_start(&o, 20, Starts::start, nullptr, &s, &b), PTL_OK);
  ASSERT_EQ(s.started.size(), 8u);
  ASSERT_EQ(ptl_batch_complete(b, 0, PTL_ERATELIMITED, -1), PTL_OK);  // 8 -> 4
  ptl_batch_report r = empty_report();
  ASSERT_EQ(ptl_batch_report_get(b, &r, nullptr, 0), PTL_OK);
  EXPECT_EQ(r.concurrency, 4u);
  // 7 still in flight count against the new limit of 4: nothing starts until 3 are left.
  for (size_t i = 1; i <= 3; ++i) {
    ASSERT_EQ(ptl_batch_complete(b, i, PTL_OK, -1), PTL_OK);
    EXPECT_EQ(s.started.size(), 8u) << "in flight " << 7 - i << " >= 4";
  }
  ASSERT_EQ(ptl_batch_complete(b, 4, PTL_OK, -1), PTL_OK);
  ASSERT_EQ(s.started.size(), 9u) << "3 in flight < 4: one more starts";
  EXPECT_EQ(s.started.back(), 8u);
  ASSERT_EQ(ptl_batch_cancel(b), PTL_OK);
  for (size_t i : {5, 6, 7, 8}) ASSERT_EQ(ptl_batch_complete(b, i, PTL_OK, -1), PTL_OK);
  EXPECT_EQ(ptl_batch_wait(b, -1), PTL_OK);
  ptl_batch_free(b);
}

struct Upstream {
  ptl_test::HiddenLimitApi api{4, 1500};
};

TEST(BatchAdaptive, ConvergesUnderAHiddenLimitWithFewRefusals) {
  Upstream up;
  ptl_adaptive_config a = adaptive(12, 1, 16, 5);
  ptl_batch_options o = batch_options(0);
  o.adaptive = &a;
  o.max_attempts = 50;
  ptl_batch_report r = empty_report();
  auto fn = [](void* u, ptl_batch*, size_t, uint32_t, int64_t*) -> int {
    return static_cast<Upstream*>(u)->api.call();
  };
  ASSERT_EQ(ptl_batch_run(&o, 300, fn, &up, nullptr, &r), PTL_OK) << ptl_last_error();
  EXPECT_EQ(up.api.served(), 300);
  // A fixed limit of 12 against a hidden 4 has 2 of 3 calls of every wave refused.
  // Adaptive: one opening wave (at most 12 - 4 refusals), then each probe above 4 after
  // 5 successes costs about one refusal per unit above the limit: well under 1 in 4.
  const double refused = static_cast<double>(up.api.refused());
  EXPECT_LT(refused / (refused + 300.0), 0.25) << refused << " refusals";
  EXPECT_LE(r.concurrency, 2u * 4u) << "ends near the hidden limit, not at 12 or 16";
  EXPECT_GE(r.backoffs, 1u);
  EXPECT_GE(r.recoveries, 1u) << "it probes upwards again after backing off";
}

int parent_flow(void*, ptl_batch* parent, size_t index, uint32_t, int64_t*) {
  ptl_batch_options o = batch_options(2);
  o.parent = parent;
  o.parent_index = index;
  return ptl_batch_run(&o, 3, refuse, nullptr, nullptr, nullptr) == PTL_EITEMS ? PTL_OK : -1;
}

TEST(BatchAdaptive, ANestedBatchsSignalsReachTheAdaptiveParent) {
  ptl_adaptive_config a = adaptive(8, 1, 8, 100);
  ptl_batch_options o = batch_options(0);
  o.adaptive = &a;
  ptl_batch_report r = empty_report();
  // The flow instances themselves succeed; only their calls were refused.
  ASSERT_EQ(ptl_batch_run(&o, 1, parent_flow, nullptr, nullptr, &r), PTL_OK);
  EXPECT_EQ(r.rate_limited, 3u);
  EXPECT_EQ(r.backoffs, 1u);
  EXPECT_EQ(r.concurrency, 4u);
}

}  // namespace
