#include "core/sliding_window.hpp"

#include <gtest/gtest.h>

namespace ptl::core {
namespace {

constexpr Nanos kWindow = 1000;

TEST(SlidingWindow, EntryCountsOverTheClosedInterval) {
  SlidingWindow w;
  w.record(100, 1);
  w.evict(100 + kWindow, kWindow);  // exactly one window later: still inside [T - W, T]
  EXPECT_EQ(w.count(), 1u);
  w.evict(100 + kWindow + 1, kWindow);
  EXPECT_EQ(w.count(), 0u);
}

TEST(SlidingWindow, EarliestFitIsOneNanosecondAfterTheBlockerLeaves) {
  SlidingWindow w;
  w.record(0, 1);
  w.record(10, 1);
  w.record(20, 1);
  // max 2 per window: the third-newest-but-one entry (time 10) must leave first.
  EXPECT_EQ(w.earliest_fit(30, kWindow, 2, 0, 1), 10 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(30, kWindow, 4, 0, 1), 30);  // fits now
}

TEST(SlidingWindow, CostFitWaitsForEnoughCostToLeave) {
  SlidingWindow w;
  w.record(0, 50);
  w.record(5, 30);
  w.record(9, 20);
  EXPECT_EQ(w.cost(), 100u);
  // max 100: a cost of 40 needs 50 (t=0) to leave; a cost of 70 needs 50+30 to leave.
  EXPECT_EQ(w.earliest_fit(10, kWindow, 0, 100, 40), 0 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(10, kWindow, 0, 100, 70), 5 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(10, kWindow, 0, 200, 70), 10);
}

TEST(SlidingWindow, CorrectionChangesTheCostOnlyWhileTheEntryCounts) {
  SlidingWindow w;
  const uint64_t a = w.record(0, 10);
  const uint64_t b = w.record(500, 10);
  w.correct(b, 3);
  EXPECT_EQ(w.cost(), 13u);
  w.evict(kWindow + 1, kWindow);  // a leaves
  w.correct(a, 1000);             // no effect: a no longer counts
  EXPECT_EQ(w.cost(), 3u);
  EXPECT_EQ(w.count(), 1u);
}

}  // namespace
}  // namespace ptl::core
