// SPDX-License-Identifier: MIT
// ptl_limiter_penalize on every backend: a 429 pauses every sharer, queued waiters too.
#include <climits>

#include "conformance.hpp"

namespace ptl_test {
namespace {

PTL_CONFORMANCE_SUITE(Penalize);

TEST_P(Penalize, BlocksEverySharer) {
  use_test_time();
  Lim h1 = make(make_cfg(4), "p");
  Lim h2 = get(peer(), "p");
  ptl_permit held = 0, p = 0;
  ASSERT_EQ(ptl_acquire(h2, 0, &held), PTL_OK);

  constexpr int64_t kPenalty = 300 * kMs;
  const int64_t t0 = now();
  ASSERT_EQ(ptl_limiter_penalize(h1, kPenalty), PTL_OK) << ptl_last_error();
  int64_t retry = 0;
  int rc = ptl_try_acquire(h2, &p, &retry);
  if (refused_before(h2, rc, p, t0 + kPenalty)) {
    EXPECT_GT(retry, 0);
    EXPECT_LE(retry, kPenalty);
    if (simulated()) {
      EXPECT_EQ(retry, kPenalty);
    }
  }
  rc = ptl_acquire(h1, 0, &p);
  refused_before(h1, rc, p, t0 + kPenalty);
  EXPECT_EQ(ptl_release(h2, held), PTL_OK) << "permits in flight are unaffected";
  rc = ptl_try_acquire(h2, &p, nullptr);
  refused_before(h2, rc, p, t0 + kPenalty);  // a release must not end the penalty
  Holder after(h2, 1, 20 * kSec);
  ASSERT_TRUE(wait_waiting(h1, 1));
  ASSERT_TRUE(ends_at(after, t0 + kPenalty)) << "granted during the penalty, or late";
  EXPECT_EQ(after.rc(), PTL_OK);
  after.finish();  // releases
  ASSERT_EQ(ptl_try_acquire(h1, &p, nullptr), PTL_OK);
  EXPECT_EQ(ptl_release(h1, p), PTL_OK);
}

TEST_P(Penalize, HoldsBackAnAlreadyQueuedWaiter) {
  // The waiter queues through one registry, the penalty and the release come through
  // another.
  use_test_time();
  Lim h1 = make(make_cfg(1), "q");
  Lim h2 = get(peer(), "q");
  ptl_permit held = 0;
  ASSERT_EQ(ptl_acquire(h2, 0, &held), PTL_OK);
  Holder waiter(h1);
  ASSERT_TRUE(wait_waiting(h1, 1));
  constexpr int64_t kPenalty = 250 * kMs;
  const int64_t t0 = now();
  ASSERT_EQ(ptl_limiter_penalize(h2, kPenalty), PTL_OK);
  ASSERT_EQ(ptl_release(h2, held), PTL_OK);
  ASSERT_TRUE(ends_at(waiter, t0 + kPenalty))
      << "the queued waiter was granted during the penalty, or late";
  EXPECT_EQ(waiter.rc(), PTL_OK);
}

TEST_P(Penalize, ShorterPenaltyDoesNotShortenALongerOne) {
  use_test_time();
  Lim lim = make(make_cfg(2));
  const int64_t t0 = now();
  ASSERT_EQ(ptl_limiter_penalize(lim, 300 * kMs), PTL_OK);
  ASSERT_EQ(ptl_limiter_penalize(lim, 10 * kMs), PTL_OK);
  advance(60 * kMs);
  ptl_permit p = 0;
  const int rc = ptl_try_acquire(lim, &p, nullptr);
  refused_before(lim, rc, p, t0 + 300 * kMs);  // the shorter penalty must not cut it short
  Holder after(lim, 1, 20 * kSec);
  ASSERT_TRUE(wait_waiting(lim, 1));
  ASSERT_TRUE(ends_at(after, t0 + 300 * kMs));
  EXPECT_EQ(after.rc(), PTL_OK);
}

// real time on purpose: on local: too, the 20 ms timeout of the INT64_MAX penalty waits on
// the steady clock's condition variable, which the tests on simulated time never reach.
TEST_P(Penalize, BadAndEdgeValues) {
  Lim lim = make(make_cfg(2));
  EXPECT_EQ(ptl_limiter_penalize(lim, -1), PTL_EINVAL);
  EXPECT_STRNE(ptl_last_error(), "");
  EXPECT_EQ(ptl_limiter_penalize(lim, INT64_MIN), PTL_EINVAL);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK) << "a rejected penalty took effect";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
  EXPECT_EQ(ptl_limiter_penalize(lim, 0), PTL_OK);
  ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK) << "a zero penalty blocked";
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);

  // A huge penalty must not overflow into the past, for any sharer.
  Lim lim2 = make(make_cfg(2), "huge");
  Lim lim2_peer = get(peer(), "huge");
  ASSERT_EQ(ptl_limiter_penalize(lim2_peer, INT64_MAX), PTL_OK);
  int64_t retry = 0;
  EXPECT_EQ(ptl_try_acquire(lim2, &p, &retry), PTL_EAGAIN) << "INT64_MAX penalty overflowed";
  EXPECT_GT(retry, 0);
  EXPECT_EQ(ptl_acquire(lim2, 20 * kMs, &p), PTL_ETIMEDOUT);
}

}  // namespace
}  // namespace ptl_test
