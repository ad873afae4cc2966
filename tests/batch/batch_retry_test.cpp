// SPDX-License-Identifier: MIT
// Retries, waits between attempts, fallback and the two failure policies.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <mutex>
#include <vector>

#include "batch_util.hpp"

namespace {

using ptl_test::batch_options;
using ptl_test::empty_report;

constexpr int kUpstreamError = 503;  // an item's own failure code, passed through

struct Flaky {
  std::mutex mu;
  std::vector<uint32_t> attempts_seen;  // per item, the highest attempt number
};

TEST(BatchRetry, FailedAttemptsRetryUpToMaxAttempts) {
  Flaky f;
  const size_t n = 30;
  f.attempts_seen.assign(n, 0);
  ptl_batch_options o = batch_options(4);
  o.max_attempts = 3;
  std::vector<int> statuses(n);
  ptl_batch_report r = empty_report();
  // Item i fails its first i % 4 attempts: items with i % 4 == 3 never get through.
  auto fn = [](void* u, ptl_batch*, size_t i, uint32_t attempt, int64_t*) -> int {
    auto* st = static_cast<Flaky*>(u);
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->attempts_seen[i] = std::max(st->attempts_seen[i], attempt);
    }
    return attempt > i % 4 ? PTL_OK : kUpstreamError;
  };
  EXPECT_EQ(ptl_batch_run(&o, n, fn, &f, statuses.data(), &r), PTL_EITEMS);
  uint64_t expected_attempts = 0, expected_failed = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool gives_up = i % 4 == 3;
    EXPECT_EQ(statuses[i], gives_up ? kUpstreamError : PTL_OK) << i;
    EXPECT_EQ(f.attempts_seen[i], gives_up ? 3u : i % 4 + 1) << i;
    expected_attempts += f.attempts_seen[i];
    expected_failed += gives_up;
  }
  EXPECT_EQ(r.attempts, expected_attempts);
  EXPECT_EQ(r.retries, expected_attempts - n);
  EXPECT_EQ(r.failed, expected_failed);
  EXPECT_EQ(r.succeeded, n - expected_failed);
}

TEST(BatchRetry, EveryAttemptTakesItsOwnPermitOfTheSharedLimiter) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = 2;
  ptl_limiter* shared = nullptr;
  ASSERT_EQ(ptl_limiter_create(&cfg, &shared), PTL_OK);
  ptl_batch_options o = batch_options(4);
  o.shared = shared;
  o.max_attempts = 3;
  ptl_batch_report r = empty_report();
  auto fn = [](void*, ptl_batch*, size_t i, uint32_t attempt, int64_t*) -> int {
    return attempt >= (i % 3) + 1 ? PTL_OK : kUpstreamError;
  };
  ASSERT_EQ(ptl_batch_run(&o, 12, fn, nullptr, nullptr, &r), PTL_OK);
  ptl_limiter_stats st{};
  st.struct_size = sizeof(st);
  ASSERT_EQ(ptl_limiter_stats_get(shared, &st), PTL_OK);
  EXPECT_EQ(st.total_acquired, r.attempts);
  EXPECT_EQ(st.in_flight, 0u) << "every permit was given back";
  EXPECT_EQ(r.attempts, 12u + 4 * (1 + 2));
  ptl_limiter_unref(shared);
}

struct Timeline {
  std::mutex mu;
  std::vector<int64_t> start, end;  // per (item, attempt): item * 2 + attempt - 1
};

TEST(BatchRetry, WaitBetweenAttemptsHoldsNoPermit) {
  Timeline t;
  t.start.assign(4, 0);
  t.end.assign(4, 0);
  const int64_t wait_ns = 150'000'000;
  ptl_batch_options o = batch_options(1);
  o.max_attempts = 2;
  o.retry_wait_ns = wait_ns;
  // Item 0 fails once; item 1 succeeds at once. With one permit, item 1 can only run
  // while item 0 waits if the wait holds nothing.
  auto fn = [](void* u, ptl_batch*, size_t i, uint32_t attempt, int64_t*) -> int {
    auto* st = static_cast<Timeline*>(u);
    const size_t slot = i * 2 + attempt - 1;
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->start[slot] = ptl_test::mono_ns();
    }
    ptl_test::sleep_us(2000);
    std::lock_guard<std::mutex> lock(st->mu);
    st->end[slot] = ptl_test::mono_ns();
    return i == 0 && attempt == 1 ? kUpstreamError : PTL_OK;
  };
  ASSERT_EQ(ptl_batch_run(&o, 2, fn, &t, nullptr, nullptr), PTL_OK);
  const int64_t item0_retry = t.start[1], item0_first_end = t.end[0], item1 = t.start[2];
  EXPECT_GE(item0_retry - item0_first_end, wait_ns) << "the retry waited retry_wait_ns";
  EXPECT_LT(item1, item0_retry) << "item 1 ran during item 0's wait";
}

struct Fallback {
  std::mutex mu;
  std::vector<int> calls;  // per item: fallback calls
  std::vector<int> last;   // the status it was given
};

TEST(BatchRetry, FallbackRunsOnceAfterTheLastAttemptAndMaySaveTheItem) {
  Fallback fb;
  const size_t n = 10;
  fb.calls.assign(n, 0);
  fb.last.assign(n, 0);
  ptl_batch_options o = batch_options(3);
  o.max_attempts = 2;
  o.fallback = [](void* u, size_t i, int last_status) -> int {
    auto* st = static_cast<Fallback*>(u);
    std::lock_guard<std::mutex> lock(st->mu);
    st->calls[i]++;
    st->last[i] = last_status;
    return i % 2 == 0 ? PTL_OK : last_status;  // even items recover
  };
  o.fallback_user = &fb;
  std::vector<int> statuses(n);
  ptl_batch_report r = empty_report();
  auto fn = [](void*, ptl_batch*, size_t i, uint32_t, int64_t*) -> int {
    return i < 6 ? static_cast<int>(400 + i) : PTL_OK;  // items 0..5 always fail
  };
  EXPECT_EQ(ptl_batch_run(&o, n, fn, nullptr, statuses.data(), &r), PTL_EITEMS);
  for (size_t i = 0; i < n; ++i) {
    const bool failing = i < 6;
    EXPECT_EQ(fb.calls[i], failing ? 1 : 0) << i;
    if (failing) {
      EXPECT_EQ(fb.last[i], static_cast<int>(400 + i));
    }
    EXPECT_EQ(statuses[i], !failing || i % 2 == 0 ? PTL_OK : static_cast<int>(400 + i)) << i;
  }
  EXPECT_EQ(r.fallbacks, 3u);
  EXPECT_EQ(r.failed, 3u);
  EXPECT_EQ(r.succeeded, 7u);
}

TEST(BatchRetry, CollectPolicyIsolatesFailures) {
  ptl_batch_options o = batch_options(4);
  std::vector<int> statuses(40);
  ptl_batch_report r = empty_report();
  auto fn = [](void*, ptl_batch*, size_t i, uint32_t, int64_t*) -> int {
    ptl_test::sleep_us(200);
    return i == 5 ? kUpstreamError : PTL_OK;
  };
  EXPECT_EQ(ptl_batch_run(&o, 40, fn, nullptr, statuses.data(), &r), PTL_EITEMS);
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(statuses[i], i == 5 ? kUpstreamError : PTL_OK);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(r.succeeded, 39u);
  EXPECT_EQ(r.canceled, 0u);
}

TEST(BatchRetry, FailFastCancelsWhatHasNotStarted) {
  ptl_batch_options o = batch_options(1);  // one at a time: "not started" is exact
  o.failure_policy = PTL_BATCH_FAIL_FAST;
  o.max_attempts = 3;
  std::vector<int> statuses(20);
  ptl_batch_report r = empty_report();
  auto fn = [](void*, ptl_batch*, size_t i, uint32_t, int64_t*) -> int {
    return i == 3 ? kUpstreamError : PTL_OK;
  };
  EXPECT_EQ(ptl_batch_run(&o, 20, fn, nullptr, statuses.data(), &r), PTL_EITEMS);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(statuses[i], PTL_OK);
  EXPECT_EQ(statuses[3], kUpstreamError);
  // A retry queues behind the one item already waiting for the permit, so each of item
  // 3's two retries may let one later item run first; everything after is cancelled.
  size_t first_canceled = 4;
  while (first_canceled < 20 && statuses[first_canceled] == PTL_OK) ++first_canceled;
  EXPECT_LE(first_canceled, 6u);
  for (size_t i = first_canceled; i < 20; ++i) EXPECT_EQ(statuses[i], PTL_ECANCELED) << i;
  EXPECT_EQ(r.canceled, 20 - first_canceled);
  EXPECT_EQ(r.attempts, r.succeeded + 3) << "nothing cancelled ever ran";
}

}  // namespace
