// SPDX-License-Identifier: MIT
// A full /dev/shm: every call that needs room the segment cannot get fails with
// PTL_EBACKEND (or PTL_ENOMEM) and a message naming the segment and the size, changes
// nothing, and succeeds once there is room again. Each test runs on a small tmpfs of its
// own mounted over /dev/shm in the process's private mount namespace (main() below), so
// it needs root or CAP_SYS_ADMIN; without, the tests are skipped.
#include <chrono>
#include <thread>

#include "async_util.hpp"
#include "shm_full_util.hpp"

namespace ptl_test {
namespace {

constexpr uint64_t kTmpfsBytes = uint64_t{4} << 20;

class ShmFull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!private_shm_problem().empty()) GTEST_SKIP() << private_shm_problem();
    tmpfs_ = std::make_unique<SmallShm>(tmpfs_bytes());
    if (!tmpfs_->problem().empty()) GTEST_SKIP() << tmpfs_->problem();
  }
  void TearDown() override {
    filler_.remove();
    exhauster_.clear();
    reg_.reset();  // before the tmpfs goes
    tmpfs_.reset();
  }
  virtual uint64_t tmpfs_bytes() const { return kTmpfsBytes; }

  ShmReg& reg() {
    if (!reg_) reg_ = std::make_unique<ShmReg>();
    return *reg_;
  }
  std::string segment() { return reg().segment(); }

  Filler filler_;
  Exhauster exhauster_;

 private:
  std::unique_ptr<SmallShm> tmpfs_;
  std::unique_ptr<ShmReg> reg_;
};

void expect_same(const ptl_limiter_stats& a, const ptl_limiter_stats& b, const char* what) {
  EXPECT_EQ(a.in_flight, b.in_flight) << what;
  EXPECT_EQ(a.waiting, b.waiting) << what;
  EXPECT_EQ(a.current_window_count, b.current_window_count) << what;
  EXPECT_EQ(a.total_acquired, b.total_acquired) << what;
  EXPECT_EQ(a.config.max_per_window, b.config.max_per_window) << what;
  EXPECT_EQ(a.config.max_cost_per_window, b.config.max_cost_per_window) << what;
}

TEST_F(ShmFull, AWindowedLimitersFirstGrantFailsCleanly) {
  Lim win = reg().make(make_cfg(4, 10, 60.0));
  // Grants less than window / 1024 apart share one log entry (ADR 15): these are spaced
  // further apart, so that each takes an entry of its own.
  Lim full_log = reg().make(make_cfg(4, 100, 30.0));
  Lim decoy = reg().make(make_cfg(4, 100, 30.0));
  const auto next_entry = [] { std::this_thread::sleep_for(std::chrono::milliseconds(31)); };
  exhauster_.prepare(reg());
  // The name tables the registrations outgrew are free blocks now, one of them the size
  // of a 32-entry log: the decoy's log grows into it, so that full_log's cannot.
  for (int i = 0; i < 17; ++i) {
    if (i > 0) next_entry();
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(decoy, 0, &p), PTL_OK) << ptl_last_error();
    ASSERT_EQ(ptl_release(decoy, p), PTL_OK);
    if (i == 16) break;  // full_log: a log of 16 entries, all in use
    ASSERT_EQ(ptl_acquire(full_log, 0, &p), PTL_OK) << ptl_last_error();
    ASSERT_EQ(ptl_release(full_log, p), PTL_OK);
  }
  filler_.fill();
  exhauster_.exhaust(segment());

  const ptl_limiter_stats before = stats_of(win);
  ptl_permit p = 0;
  expect_full(ptl_acquire(win, 0, &p), segment(), "acquire");
  expect_full(ptl_acquire(win, 5 * kSec, &p), segment(), "acquire with a timeout");
  expect_full(ptl_try_acquire(win, &p, nullptr), segment(), "try_acquire");
  Req req;
  expect_full(req.start(win, 1, -1, nullptr), segment(), "acquire_async");
  EXPECT_EQ(req.calls.load(), 0) << "the callback ran for a call that failed";
  expect_same(before, stats_of(win), "after the failed first grants");

  // A log that cannot grow makes a grant that needs a new entry wait for its oldest one
  // (ADR 8).
  next_entry();
  const ptl_limiter_stats full_before = stats_of(full_log);
  EXPECT_EQ(ptl_acquire(full_log, 0, &p), PTL_EAGAIN) << ptl_last_error();
  expect_same(full_before, stats_of(full_log), "after the log could not grow");

  filler_.remove();
  ASSERT_EQ(ptl_acquire(win, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(win, p), PTL_OK);
  ASSERT_EQ(ptl_acquire(full_log, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(full_log, p), PTL_OK);
  EXPECT_EQ(stats_of(full_log).current_window_count, 17u);
  ASSERT_EQ(req.start(win, 1, -1, nullptr), PTL_OK) << ptl_last_error();
  ASSERT_TRUE(req.wait());
  EXPECT_EQ(req.status.load(), PTL_OK);
  EXPECT_EQ(ptl_release(win, req.permit.load()), PTL_OK);
  EXPECT_EQ(stats_of(win).total_acquired, 2u);
}

TEST_F(ShmFull, SlotsForMorePermitsAndWaitersFailCleanly) {
  Lim wide = reg().make(make_cfg(1000));
  Lim narrow = reg().make(make_cfg(1));
  for (ptl_limiter* lim : {wide.get(), narrow.get()}) {  // their first 16 slots
    ptl_permit p = 0;
    ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
  }
  exhauster_.prepare(reg());
  filler_.fill();
  exhauster_.exhaust(segment());

  std::vector<ptl_permit> held;
  ptl_permit p = 0;
  int rc = PTL_OK;
  while ((rc = ptl_acquire(wide, 0, &p)) == PTL_OK) held.push_back(p);
  expect_full(rc, segment(), "a permit beyond the slots there are");
  EXPECT_EQ(held.size(), 16u);
  EXPECT_EQ(stats_of(wide).in_flight, 16u);

  // The narrow limiter is taken: waiters fill its other 15 slots, then there is no room.
  ptl_permit narrow_held = 0;
  ASSERT_EQ(ptl_acquire(narrow, 0, &narrow_held), PTL_OK);
  std::vector<std::unique_ptr<Req>> waiters;
  for (int i = 0; i < 15; ++i) {
    waiters.push_back(std::make_unique<Req>());
    ASSERT_EQ(waiters.back()->start(narrow, 1, -1, nullptr), PTL_OK) << ptl_last_error();
  }
  const ptl_limiter_stats before = stats_of(narrow);
  EXPECT_EQ(before.waiting, 15u);
  Req refused;
  expect_full(refused.start(narrow, 1, -1, nullptr), segment(), "an async waiter");
  expect_full(ptl_acquire(narrow, 10 * kSec, &p), segment(), "a waiter");
  EXPECT_EQ(refused.calls.load(), 0);
  expect_same(before, stats_of(narrow), "after the refused waiters");

  // Releases hand over to the waiters there are: no room is needed for that.
  ASSERT_EQ(ptl_release(narrow, narrow_held), PTL_OK) << ptl_last_error();
  ASSERT_TRUE(waiters[0]->wait());
  EXPECT_EQ(waiters[0]->status.load(), PTL_OK);

  filler_.remove();
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(ptl_acquire(wide, 0, &p), PTL_OK) << ptl_last_error();
    held.push_back(p);
  }
  for (ptl_permit h : held) EXPECT_EQ(ptl_release(wide, h), PTL_OK);
  waiters.push_back(std::make_unique<Req>());
  ASSERT_EQ(waiters.back()->start(narrow, 1, -1, nullptr), PTL_OK) << ptl_last_error();
  EXPECT_EQ(stats_of(narrow).waiting, 15u);
  for (size_t i = 0; i < waiters.size(); ++i) {  // each release grants the next in line
    ASSERT_TRUE(waiters[i]->wait()) << i;
    ASSERT_EQ(waiters[i]->status.load(), PTL_OK) << i;
    ASSERT_EQ(ptl_release(narrow, waiters[i]->permit.load()), PTL_OK) << i;
  }
  const ptl_limiter_stats end = stats_of(narrow);
  EXPECT_EQ(end.in_flight, 0u);
  EXPECT_EQ(end.waiting, 0u);
  EXPECT_EQ(end.total_acquired, 18u);  // 1 at the start, 1 held, 16 waiters
}

TEST_F(ShmFull, RegisterFailsWithoutAHalfRegisteredName) {
  const ptl_limiter_config cfg = make_cfg(2);
  for (int i = 0; i < 8; ++i) {
    const std::string n = "spare-" + std::to_string(i);
    ASSERT_EQ(ptl_registry_register(reg(), n.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
  }
  exhauster_.prepare(reg());
  filler_.fill();
  exhauster_.exhaust(segment());
  const int listed = count_listed(reg());

  // No room for a limiter block.
  expect_full(ptl_registry_register(reg(), "new", &cfg, 0), segment(), "register");
  EXPECT_EQ(ptl_registry_exists(reg(), "new"), 0);
  Lim got;
  expect_full(ptl_registry_get_or_create(reg(), "new", &cfg, got.out()), segment(),
              "get_or_create");
  EXPECT_EQ(ptl_registry_exists(reg(), "new"), 0);

  // Blocks there are (a removed limiter's), until the name table must grow: names churn,
  // each leaving a used entry behind.
  ASSERT_EQ(ptl_registry_remove(reg(), "spare-0"), PTL_OK);
  int rc = PTL_OK;
  int churned = 0;
  for (; churned < 100000; ++churned) {
    const std::string n = "churn-" + std::to_string(churned);
    rc = ptl_registry_register(reg(), n.c_str(), &cfg, 0);
    if (rc != PTL_OK) break;
    ASSERT_EQ(ptl_registry_remove(reg(), n.c_str()), PTL_OK);
  }
  expect_full(rc, segment(), "register needing a bigger name table");
  const std::string failed = "churn-" + std::to_string(churned);
  EXPECT_EQ(ptl_registry_exists(reg(), failed.c_str()), 0);
  EXPECT_EQ(count_listed(reg()), listed - 1);

  filler_.remove();
  ASSERT_EQ(ptl_registry_register(reg(), failed.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_registry_register(reg(), "new", &cfg, 0), PTL_OK) << ptl_last_error();
  EXPECT_EQ(count_listed(reg()), listed + 1);
  Lim lim;
  ASSERT_EQ(ptl_registry_get(reg(), "new", lim.out()), PTL_OK);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(lim, 0, &p), PTL_OK) << ptl_last_error();
  EXPECT_EQ(ptl_release(lim, p), PTL_OK);
}

TEST_F(ShmFull, AddingAWindowFailsAndKeepsTheConfig) {
  Lim plain = reg().make(make_cfg(4), "plain");
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(plain, 0, &p), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_release(plain, p), PTL_OK);
  exhauster_.prepare(reg());
  filler_.fill();
  exhauster_.exhaust(segment());

  const ptl_limiter_stats before = stats_of(plain);
  const ptl_limiter_config windowed = make_cfg(4, 10, 60.0);
  expect_full(ptl_limiter_reconfigure(plain, &windowed), segment(), "reconfigure");
  expect_same(before, stats_of(plain), "after the failed reconfigure");
  // (A log of 16 entries could take the name table's first block, freed when it grew.)
  const ptl_limiter_config weighted = make_cfg(4, 6, 60.0, 100);
  expect_full(ptl_registry_register(reg(), "plain", &weighted, PTL_REPLACE), segment(),
              "register PTL_REPLACE");
  expect_same(before, stats_of(plain), "after the failed replace");
  ASSERT_EQ(ptl_acquire(plain, 0, &p), PTL_OK) << ptl_last_error();  // as it was
  ASSERT_EQ(ptl_release(plain, p), PTL_OK);

  filler_.remove();
  ASSERT_EQ(ptl_limiter_reconfigure(plain, &windowed), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_acquire(plain, 0, &p), PTL_OK) << ptl_last_error();
  ASSERT_EQ(ptl_release(plain, p), PTL_OK);
  const ptl_limiter_stats after = stats_of(plain);
  EXPECT_EQ(after.config.max_per_window, 10u);
  EXPECT_EQ(after.current_window_count, 1u);
}

TEST_F(ShmFull, OpeningANewSegmentFailsAndWorksOnceThereIsRoom) {
  filler_.fill();
  const std::string other = unique_segment("ptl-full-open");
  const std::string uri = "shm://" + other;
  ptl_registry* r = nullptr;
  expect_full(ptl_registry_open(uri.c_str(), &r), other, "open");
  EXPECT_EQ(r, nullptr);

  filler_.remove();
  ASSERT_EQ(ptl_registry_open(uri.c_str(), &r), PTL_OK) << ptl_last_error();
  const ptl_limiter_config cfg = make_cfg(1, 5, 60.0);
  ASSERT_EQ(ptl_registry_register(r, "x", &cfg, 0), PTL_OK) << ptl_last_error();
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(ptl_registry_stats(r, "x", &s), PTL_OK) << ptl_last_error();
  ptl_registry_close(r);
  remove_segment(other);
}

class ShmFullGrowth : public ShmFull {
 protected:
  uint64_t tmpfs_bytes() const override { return uint64_t{8} << 20; }
};

TEST_F(ShmFullGrowth, TheFileGrowsByWhatFitsWhenDoublingDoesNot) {
  const std::string file = shm_file(segment());
  const ptl_limiter_config cfg = make_cfg(2);
  int n = 0;
  const auto register_until = [&](uint64_t bytes) {
    while (file_size(file) < bytes && n < 100000) {
      const std::string name = "l-" + std::to_string(n++);
      ASSERT_EQ(ptl_registry_register(reg(), name.c_str(), &cfg, 0), PTL_OK) << ptl_last_error();
    }
  };
  register_until(uint64_t{2} << 20);
  ASSERT_EQ(file_size(file), uint64_t{2} << 20);
  // Room for one more MiB, not for the two that doubling the file would take.
  filler_.fill(uint64_t{3} << 19);
  register_until((uint64_t{2} << 20) + 1);
  EXPECT_EQ(file_size(file), uint64_t{3} << 20);
}

}  // namespace
}  // namespace ptl_test

int main(int argc, char** argv) {
  // Before gtest (or anything else) starts a thread.
  ptl_test::private_shm_problem() = ptl_test::enter_private_mount_namespace();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
