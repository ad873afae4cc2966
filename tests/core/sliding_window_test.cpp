// SPDX-License-Identifier: MIT
#include "core/sliding_window.hpp"

#include <gtest/gtest.h>

namespace ptl::core {
namespace {

// Long enough that grants 1 ns apart or more do not merge (window / 1024 < 1 ns would
// merge nothing; 1000 / 1024 = 0).
constexpr Nanos kWindow = 1000;

TEST(SlidingWindow, EntryCountsOverTheClosedInterval) {
  SlidingWindow w;
  w.record(100, kWindow, 1);
  w.evict(100 + kWindow, kWindow);  // exactly one window later: still inside [T - W, T]
  EXPECT_EQ(w.sum(), 1u);
  w.evict(100 + kWindow + 1, kWindow);
  EXPECT_EQ(w.sum(), 0u);
}

TEST(SlidingWindow, EarliestFitIsOneNanosecondAfterTheBlockerLeaves) {
  SlidingWindow w;
  w.record(0, kWindow, 1);
  w.record(10, kWindow, 1);
  w.record(20, kWindow, 1);
  // max 2 per window: the entries at 0 and 10 must leave before one more fits.
  EXPECT_EQ(w.earliest_fit(30, kWindow, 2, 1), 10 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(30, kWindow, 4, 1), 30);  // fits now
}

TEST(SlidingWindow, AmountFitWaitsForEnoughToLeave) {
  SlidingWindow w;
  w.record(0, kWindow, 50);
  w.record(5, kWindow, 30);
  w.record(9, kWindow, 20);
  EXPECT_EQ(w.sum(), 100u);
  // max 100: 40 needs 50 (t=0) to leave; 70 needs 50+30 to leave.
  EXPECT_EQ(w.earliest_fit(10, kWindow, 100, 40), 0 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(10, kWindow, 100, 70), 5 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(10, kWindow, 200, 70), 10);
  EXPECT_EQ(w.earliest_fit(10, kWindow, 100, 101), kNever);  // never fits this max
}

TEST(SlidingWindow, CorrectionChangesTheAmountOnlyWhileTheEntryCounts) {
  SlidingWindow w;
  const uint64_t a = w.record(0, kWindow, 10);
  const uint64_t b = w.record(500, kWindow, 10);
  w.correct(b, 10, 3);
  EXPECT_EQ(w.sum(), 13u);
  w.evict(kWindow + 1, kWindow);  // a leaves
  w.correct(a, 10, 1000);         // no effect: a no longer counts
  EXPECT_EQ(w.sum(), 3u);
  EXPECT_EQ(w.entries(), 1u);
}

TEST(SlidingWindow, AWindowOverItsMaxWaitsUntilBackUnder) {
  SlidingWindow w;
  const uint64_t a = w.record(0, kWindow, 10);
  w.record(100, kWindow, 10);
  w.correct(a, 10, 90);  // settled: 100 used of a max of 50
  EXPECT_EQ(w.sum(), 100u);
  EXPECT_EQ(w.earliest_fit(200, kWindow, 50, 0), 0 + kWindow + 1);
  EXPECT_EQ(w.earliest_fit(200, kWindow, 50, 41), 100 + kWindow + 1);
}

TEST(SlidingWindow, CloseGrantsMergeAndLeaveWithTheNewest) {
  constexpr Nanos kDay = Nanos{86'400} * 1'000'000'000;
  const Nanos step = kDay / SlidingWindow::kResolution;  // 84.375 s
  SlidingWindow w;
  const uint64_t first = w.record(0, kDay, 1);
  const uint64_t second = w.record(step - 1, kDay, 2);  // merges into the first entry
  EXPECT_EQ(first, second);
  EXPECT_EQ(w.entries(), 1u);
  EXPECT_EQ(w.record(2 * step, kDay, 1), first + 1);  // far enough: a new entry
  // The merged entry counts until its newest grant leaves: never early.
  w.evict(kDay, kDay);
  EXPECT_EQ(w.sum(), 4u);
  w.evict(step - 1 + kDay, kDay);
  EXPECT_EQ(w.sum(), 4u);
  w.evict(step + kDay, kDay);
  EXPECT_EQ(w.sum(), 1u);
  // A correction of a merged grant changes only its own part.
  const uint64_t third = w.record(2 * step + 1, kDay, 5);
  w.correct(third, 5, 2);
  EXPECT_EQ(w.sum(), 3u);
}

TEST(SlidingWindow, AStreamOfCloseGrantsDoesNotKeepOneEntryAlive) {
  // Grants every step / 2 would merge forever if merging followed the newest grant; an
  // entry spans at most one step, so the first grant leaves one step late at worst.
  constexpr Nanos kMinute = Nanos{60} * 1'000'000'000;
  const Nanos step = kMinute / SlidingWindow::kResolution;
  SlidingWindow w;
  for (Nanos t = 0; t <= kMinute; t += step / 2) w.record(t, kMinute, 1);
  w.evict(kMinute + step + 1, kMinute);
  EXPECT_LT(w.sum(), 2 * SlidingWindow::kResolution + 1)
      << "the grants of the first step still count two steps after they left";
  EXPECT_GT(w.entries(), 1000u);
}

TEST(SlidingWindow, AnyRateKeepsTheLogBounded) {
  constexpr Nanos kMinute = Nanos{60} * 1'000'000'000;
  SlidingWindow w;
  // 2,000,000 grants of one token spread over one minute: at most 1025 entries.
  for (Nanos i = 0; i < 2'000'000; ++i) w.record(i * 30'000, kMinute, 1);
  EXPECT_LE(w.entries(), static_cast<size_t>(SlidingWindow::kResolution) + 1);
  EXPECT_EQ(w.sum(), 2'000'000u);
}

}  // namespace
}  // namespace ptl::core
