// SPDX-License-Identifier: MIT
// GrantBook: the records of held grants and the short line of released ones.
#include "core/grant_book.hpp"

#include <gtest/gtest.h>

namespace ptl::core {
namespace {

// Opens and releases grants 1..n (permit i in slot 0, granted at time i), each kept.
void release_kept(GrantBook& book, uint64_t first, uint64_t last) {
  for (uint64_t permit = first; permit <= last; ++permit) {
    book.open(permit, 0, Charges{}, static_cast<Nanos>(permit));
    book.close(permit, 0, /*keep=*/true);
  }
}

TEST(GrantBook, KeepsTheNewestReleasedRecordsUpToItsCapInReleaseOrder) {
  GrantBook book;
  constexpr uint64_t kMax = GrantBook::kMaxReleased;
  release_kept(book, 1, kMax + 44);
  EXPECT_EQ(book.released(44), nullptr);  // the oldest left as the line filled
  ASSERT_NE(book.released(45), nullptr);
  EXPECT_EQ(book.released(45)->granted_at, 45);
  ASSERT_NE(book.released(kMax + 44), nullptr);
  // Forgetting drops from the oldest end, in release order, and stops at a newer one.
  book.forget_granted_before(100);
  EXPECT_EQ(book.released(99), nullptr);
  ASSERT_NE(book.released(100), nullptr);
  uint64_t kept = 0;
  Nanos previous = 0;
  book.for_each([&](GrantRecord& r, bool held) {
    EXPECT_FALSE(held);
    EXPECT_GT(r.granted_at, previous);  // oldest first
    previous = r.granted_at;
    ++kept;
  });
  EXPECT_EQ(kept, kMax + 44 - 99);
  // Room freed at the front is used again without losing the order: 55 more fill the
  // line exactly, one more pushes out the oldest.
  release_kept(book, kMax + 45, kMax + 99);
  EXPECT_NE(book.released(100), nullptr);
  EXPECT_NE(book.released(kMax + 99), nullptr);
  release_kept(book, kMax + 100, kMax + 100);
  EXPECT_EQ(book.released(100), nullptr);
  EXPECT_NE(book.released(101), nullptr);
  previous = 0;
  book.for_each([&](GrantRecord& r, bool) {
    EXPECT_GT(r.granted_at, previous);
    previous = r.granted_at;
  });
}

TEST(GrantBook, AReleaseNotKeptLeavesNoRecord) {
  GrantBook book;
  book.open(7, 3, Charges{}, 0);
  ASSERT_NE(book.held(7, 3), nullptr);
  EXPECT_EQ(book.held(8, 3), nullptr);  // another permit of the same slot
  book.close(7, 3, /*keep=*/false);
  EXPECT_EQ(book.held(7, 3), nullptr);
  EXPECT_EQ(book.released(7), nullptr);
}

TEST(GrantBook, ARecordKeepsWhatItChargedAndAReusedSlotStartsClean) {
  GrantBook book;
  Charges c;
  c.n = 3;
  c.amount = {5, 6, 7};
  GrantRecord& r = book.open(1, 2, c, 100);
  r.entry[0] = 11;
  r.entry[2] = 13;
  r.settled = 0b100;
  book.close(1, 2, /*keep=*/true);
  const GrantRecord* kept = book.released(1);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->granted_at, 100);
  EXPECT_EQ(kept->settled, 0b100u);
  ASSERT_EQ(kept->charges.n, 3u);
  EXPECT_EQ(kept->charges.amount[1], 6u);
  EXPECT_EQ(kept->charges.amount[2], 7u);
  EXPECT_EQ(kept->entry[0], 11u);
  EXPECT_EQ(kept->entry[2], 13u);
  // The next grant in that slot: its own charges, no entry or settle of the last one's.
  c.amount = {1, 2, 3};
  const GrantRecord& next = book.open(2, 2, c, 200);
  EXPECT_EQ(next.settled, 0u);
  EXPECT_EQ(next.charges.amount[2], 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(next.entry[i], 0u) << i;
  // Records reused in the released line carry the new one's amounts, not the old's.
  for (uint64_t p = 3; p < 3 + GrantBook::kMaxReleased + 5; ++p) {
    c.amount = {p, p + 1, p + 2};
    book.open(p, 0, c, static_cast<Nanos>(p) + 300).entry[1] = p * 10;
    book.close(p, 0, /*keep=*/true);
  }
  const uint64_t newest = 2 + GrantBook::kMaxReleased + 5;
  const GrantRecord* last = book.released(newest);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->charges.amount[2], newest + 2);
  EXPECT_EQ(last->entry[1], newest * 10);
  EXPECT_EQ(last->entry[0], 0u);
}

}  // namespace
}  // namespace ptl::core
