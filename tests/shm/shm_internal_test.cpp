// SPDX-License-Identifier: MIT
// White-box tests of the shm:// backend's parts (linked to ptl_core, not through the C
// ABI): the agent's stop protocol, forced into its one racy interleaving by a hook; a
// limiter left without a window log on a full segment; the window log's coalescing, at
// times the test chooses; the arena's reuse of freed blocks.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "registry/registry_backend.hpp"
#include "registry/shm/agent.hpp"
#include "registry/shm/arena.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/shm_registry.hpp"
#include "registry/shm/sync.hpp"
#include "registry/shm/testing.hpp"
#include "registry/shm/window_log.hpp"

namespace {

namespace core = ptl::core;
namespace shm = ptl::shm;

std::string unique_segment(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// The segment file is removed at scope exit.
struct SegmentFile {
  std::string name = unique_segment("ptl-internal");
  SegmentFile() { shm_unlink(("/ptl." + name).c_str()); }
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;
  ~SegmentFile() { shm_unlink(("/ptl." + name).c_str()); }
  std::string uri() const { return "shm://" + name; }
};

// The hook's side of the race: armed once, it tells the test it is in the gap, then
// holds the agent there until stop() has set its flag and rung the doorbell (stop sets
// the flag first, so once the word moves both have happened).
std::atomic<bool> g_armed{false};
std::promise<void>* g_in_gap = nullptr;

void hold_until_rung(std::atomic<uint32_t>& doorbell) {
  if (!g_armed.exchange(false)) return;
  const uint32_t before = doorbell.load(std::memory_order_acquire);
  g_in_gap->set_value();
  while (doorbell.load(std::memory_order_acquire) == before) {
    shm::futex_wait(&doorbell, before, core::kNever);
  }
}

struct HookReset {
  HookReset(const HookReset&) = delete;
  HookReset& operator=(const HookReset&) = delete;
  HookReset() = default;
  ~HookReset() {
    g_armed = false;
    shm::set_agent_loop_hook(nullptr);
  }
};

TEST(ShmAgent, CloseReturnsWhenStopRingsBetweenTheAgentsTwoReads) {
  // The agent reads its doorbell word and checks its stop flag on every turn; a stop()
  // that sets the flag and rings between the two must not be absorbed (the agent would
  // sleep with no deadline and the close wait for it forever).
  SegmentFile file;
  HookReset reset;
  std::promise<void> in_gap;
  g_in_gap = &in_gap;
  shm::set_agent_loop_hook(hold_until_rung);
  g_armed = true;
  // The agent's first turn comes right after it claimed its entry, with nothing to wait
  // for: its sleep would have no deadline.
  std::unique_ptr<core::RegistryBackend> reg = core::RegistryBackend::open(file.uri());
  ASSERT_EQ(in_gap.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "the agent never reached its hook";

  std::promise<void> closed;
  std::future<void> done = closed.get_future();
  std::thread closer([&] {
    reg.reset();  // the last handle: stop() sets the flag and rings, then waits
    closed.set_value();
  });
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // The agent absorbed the ring and sleeps for good; so does the closer. Leave it to
    // the process's exit rather than hang the suite.
    closer.detach();
    FAIL() << "ptl_registry_close hangs: the agent slept through a stop() that rang "
              "between its reading the doorbell and checking its stop flag";
  }
  closer.join();
}

// An async acquire's outcome, once.
struct AsyncOutcome {
  std::promise<int> status;
  static void cb(void* u, int status, core::PermitId) {
    static_cast<AsyncOutcome*>(u)->status.set_value(status);
  }
};

TEST(ShmWindowLog, WaitersThatCannotBeGrantedFinishAndTheReleaseSucceeds) {
  // A limiter without a window log (repair reset an unreadable one) on a full segment:
  // the release that frees capacity succeeds, and the waiters it cannot grant finish
  // with the error instead of waiting for room nobody would tell them about.
  SegmentFile file;
  std::unique_ptr<core::RegistryBackend> reg = core::RegistryBackend::open(file.uri());
  core::BasicConfig cfg;
  cfg.max_concurrent = 1;
  cfg.max_per_window = 10;
  reg->register_limiter("w", core::PolicySpec::from_config(cfg), false);
  core::LimiterPtr lim = reg->get("w");
  core::PermitId held = 0;
  ASSERT_EQ(lim->acquire_cost(1, 0, &held), core::Status::kOk);

  AsyncOutcome async;
  std::future<int> async_status = async.status.get_future();
  lim->acquire_async(core::Demand{}, -1, core::AcquireCallback{&AsyncOutcome::cb, &async}, nullptr);
  std::promise<std::string> sync_error;
  std::future<std::string> sync_done = sync_error.get_future();
  std::thread waiter([&] {
    core::PermitId p = 0;
    try {
      const core::Status st = lim->acquire_cost(1, -1, &p);
      sync_error.set_value("returned " + std::to_string(static_cast<int>(st)));
    } catch (const core::StatusError& e) {
      sync_error.set_value(e.status() == core::Status::kBackend ? e.what() : "wrong status");
    }
  });
  while (lim->stats().waiting < 2) std::this_thread::yield();

  shm::testing::drop_window_log(*reg, "w");
  const uint64_t saved = shm::testing::fill_arena(*reg);
  EXPECT_NO_THROW(lim->release(held, std::nullopt));
  ASSERT_EQ(async_status.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(async_status.get(), static_cast<int>(core::Status::kBackend));
  ASSERT_EQ(sync_done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  waiter.join();
  const std::string msg = sync_done.get();
  EXPECT_NE(msg.find(file.name), std::string::npos) << msg;
  EXPECT_NE(msg.find(" bytes"), std::string::npos) << msg;
  core::StatsSnapshot st = lim->stats();
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.waiting, 0u);

  shm::testing::restore_arena(*reg, saved);
  core::PermitId p = 0;
  ASSERT_EQ(lim->acquire_cost(1, 0, &p), core::Status::kOk);
  lim->release(p, std::nullopt);
  st = lim->stats();
  EXPECT_EQ(st.current_window_count, 1u);
  EXPECT_EQ(st.total_acquired, 2u);
}

// A windowed limit of its own, outside any limiter (the window log functions take only
// the segment and the record, and nobody else sees this one), with its first log.
struct TestLimit {
  shm::Segment& seg;
  shm::LimitRecord l{};
  TestLimit(shm::Segment& s, int64_t window, uint64_t max) : seg(s) {
    l.max = max;
    l.window_ns = window;
    l.log = shm::log_alloc_first(seg);
  }
  TestLimit(const TestLimit&) = delete;
  TestLimit& operator=(const TestLimit&) = delete;
  ~TestLimit() { shm::log_free(seg, l.log); }
  // A grant of `amount` asked for at `now`, as a limiter takes it: evict, check, and
  // record at the time it fits (a waiter's); returns that time.
  core::Nanos grant(core::Nanos now, uint64_t amount) {
    shm::log_evict(seg, l, now);
    const core::Nanos fit = shm::log_earliest_fit(seg, l, now, amount);
    if (fit != now) return grant(fit, amount);
    shm::log_record(seg, l, now, amount);
    return now;
  }
};

TEST(ShmWindowLog, AStreamOfCloseGrantsLetsItsFirstGrantsLeaveInTime) {
  // Grants asked for W/2048 apart for three windows, one unit each: every one would
  // merge into the newest entry if merging went by that entry's newest grant, and the
  // stream's first grants would count until it stopped. An entry takes grants only
  // within W/1024 of its first, so at every grant's time T the window counts every grant
  // of [T - W, T] (never early) and none before T - W - W/1024 (at most W/1024 late).
  // A grant that needs a 1025th entry waits for the oldest to leave: that is where a
  // grant comes later than asked, never more than W/1024 later (window_log.hpp).
  SegmentFile file;
  std::unique_ptr<core::RegistryBackend> reg = core::RegistryBackend::open(file.uri());
  shm::Segment& seg = dynamic_cast<shm::ShmRegistry&>(*reg).segment();
  constexpr int64_t kWindow = int64_t{1024} * 1'000'000;  // 1.024 s: W/1024 = 1 ms
  constexpr int64_t kStep = kWindow / 2048;
  constexpr int64_t kT0 = int64_t{1'000'000} * 1'000'000'000;  // any time; none before
  TestLimit t(seg, kWindow, uint64_t{1} << 40);
  std::vector<core::Nanos> granted;  // in order
  // How many grants are at or after `from`.
  const auto since = [&](core::Nanos from) {
    return static_cast<uint64_t>(granted.end() -
                                 std::lower_bound(granted.begin(), granted.end(), from));
  };
  core::Nanos asked = kT0;
  int64_t waited = 0;
  while (asked < kT0 + 3 * kWindow) {
    const core::Nanos now = t.grant(asked, 1);
    ASSERT_LE(now - asked, kWindow / 1024) << "grant " << granted.size();
    waited += now > asked ? 1 : 0;
    granted.push_back(now);
    ASSERT_GE(t.l.sum, since(now - kWindow)) << "grant " << granted.size() << " left early";
    ASSERT_LE(t.l.sum, since(now - kWindow - kWindow / 1024))
        << "grant " << granted.size()
        << ": a grant still counts more than W/1024 after it left the window";
    ASSERT_LE(shm::log_count(t.l), shm::kMaxLogEntries) << "grant " << granted.size();
    asked = std::max(asked + kStep, now);
  }
  EXPECT_GT(granted.size(), 3u * 2048 * 9 / 10)
      << "the stream was held up: " << waited << " grants waited";
  // Once the stream stops, its last entry leaves with its last grant.
  const core::Nanos last = granted.back();
  shm::log_evict(seg, t.l, last + kWindow);
  EXPECT_GE(t.l.sum, 1u) << "the last grant counts until last + W";
  shm::log_evict(seg, t.l, last + kWindow + 1);
  EXPECT_EQ(t.l.sum, 0u);
  EXPECT_EQ(shm::log_count(t.l), 0u);
}

TEST(ShmWindowLog, AFullLogMakesAGrantWaitAtMostAThousandTwentyFourthOfTheWindow) {
  // The worst case of a log at its 1024 entries: the oldest took a grant at the very end
  // of its span, the others were opened exactly W/1024 apart, and a grant comes when the
  // next would open. It needs a 1025th entry, so it waits for the oldest to leave: at
  // most W/1024 later (window_log.hpp).
  SegmentFile file;
  std::unique_ptr<core::RegistryBackend> reg = core::RegistryBackend::open(file.uri());
  shm::Segment& seg = dynamic_cast<shm::ShmRegistry&>(*reg).segment();
  constexpr int64_t kWindow = int64_t{1024} * 1'000'000;
  constexpr int64_t kSpan = kWindow / 1024;
  constexpr int64_t kT0 = int64_t{1'000'000} * 1'000'000'000;
  TestLimit t(seg, kWindow, uint64_t{1} << 40);
  t.grant(kT0, 1);
  t.grant(kT0 + kSpan - 1, 1);  // merges: the oldest entry's time is now its end
  for (int64_t k = 1; k < 1024; ++k) ASSERT_EQ(t.grant(kT0 + k * kSpan, 1), kT0 + k * kSpan);
  ASSERT_EQ(shm::log_count(t.l), shm::kMaxLogEntries);
  const core::Nanos now = kT0 + 1024 * kSpan;
  shm::log_evict(seg, t.l, now);
  ASSERT_EQ(shm::log_count(t.l), shm::kMaxLogEntries) << "every entry still counts";
  const core::Nanos fit = shm::log_earliest_fit(seg, t.l, now, 1);
  EXPECT_GT(fit, now) << "a 1025th entry does not fit in the log";
  EXPECT_LE(fit - now, kWindow / 1024);
  EXPECT_EQ(t.grant(fit, 1), fit);
  EXPECT_EQ(t.l.sum, 1024u) << "the oldest entry (2 grants) left, the new grant came in";
}

TEST(ShmArena, AReusedGenericBlockHoldsWhatItsSizeClassPromises) {
  // Generic blocks are reused by size class: a freed block of a class must hold the
  // largest request of that class, not just the request it was carved for.
  SegmentFile file;
  std::unique_ptr<core::RegistryBackend> reg = core::RegistryBackend::open(file.uri());
  shm::Segment& seg = dynamic_cast<shm::ShmRegistry&>(*reg).segment();
  const uint64_t small = 16 + 20 * 16;  // a window log of 20 entries
  const uint64_t large = 16 + 31 * 16;  // one of 31: the same class (up to 512 bytes)
  ASSERT_EQ(shm::generic_class(small), shm::generic_class(large));
  const shm::Block first = shm::arena_alloc(seg, shm::kGeneric, shm::generic_class(small), small);
  const shm::Block after = shm::arena_alloc(seg, shm::kGeneric, 0, 64);
  shm::arena_free(seg, shm::kGeneric, shm::generic_class(small), first.off);
  const shm::Block reused = shm::arena_alloc(seg, shm::kGeneric, shm::generic_class(large), large);
  ASSERT_EQ(reused.off, first.off);
  EXPECT_LE(reused.off + large, after.off)
      << "the reused block overlaps the next one: writing it would corrupt its neighbour";
}

}  // namespace
