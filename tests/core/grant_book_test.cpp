// GrantBook: the records of held grants and the short line of released ones.
#include "core/grant_book.hpp"

#include <gtest/gtest.h>

namespace ptl::core {
namespace {

// Opens and releases grants 1..n (permit i in slot 0, granted at time i), each kept.
void release_kept(GrantBook& book, uint64_t first, uint64_t last) {
  for (uint64_t permit = first; permit <= last; ++permit) {
    book.open(permit, 0).granted_at = static_cast<Nanos>(permit);
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
  book.open(7, 3);
  ASSERT_NE(book.held(7, 3), nullptr);
  EXPECT_EQ(book.held(8, 3), nullptr);  // another permit of the same slot
  book.close(7, 3, /*keep=*/false);
  EXPECT_EQ(book.held(7, 3), nullptr);
  EXPECT_EQ(book.released(7), nullptr);
}

}  // namespace
}  // namespace ptl::core
