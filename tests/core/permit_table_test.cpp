// SPDX-License-Identifier: MIT
#include "core/permit_table.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace ptl::core {
namespace {

TEST(PermitTable, PermitsAreNonZeroAndUniqueAndRetireOnce) {
  PermitTable table;
  std::set<uint64_t> seen;
  std::vector<uint64_t> held;
  for (uint64_t i = 1; i <= 100; ++i) {
    const uint64_t p = table.issue(i);
    EXPECT_NE(p, 0u);
    EXPECT_TRUE(seen.insert(p).second);
    held.push_back(p);
  }
  for (uint64_t p : held) {
    EXPECT_NE(table.find(p), nullptr);
    EXPECT_TRUE(table.retire(p));
    EXPECT_FALSE(table.retire(p));  // second release
    EXPECT_EQ(table.find(p), nullptr);
  }
  // A reused slot gets a new value: the old permit stays invalid.
  const uint64_t again = table.issue(1);
  EXPECT_FALSE(seen.count(again));
  EXPECT_FALSE(table.retire(held.front()) && held.front() != again);
  EXPECT_EQ(table.total_issued(), 101u);
}

TEST(PermitTable, AnotherTablesPermitIsRejected) {
  PermitTable a, b;
  const uint64_t pa = a.issue(1);
  b.issue(1);
  EXPECT_FALSE(b.retire(pa));
  EXPECT_FALSE(b.retire(0));
  EXPECT_TRUE(a.retire(pa));
}

TEST(PermitTable, ConcurrentIssueAndRetireNeverShareASlot) {
  PermitTable table;
  constexpr int kThreads = 4, kRounds = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        const uint64_t p = table.issue(kThreads);
        if (!table.retire(p)) failures.fetch_add(1);  // someone else overwrote our slot
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(table.total_issued(), uint64_t{kThreads} * kRounds);
}

}  // namespace
}  // namespace ptl::core
