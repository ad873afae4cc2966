// SPDX-License-Identifier: MIT
// BatchRun: one run of n items (a parallel batch node's calls or a parallel batch
// flow's instances) under the batch's own limiter and, optionally, a shared one.
//
// The engine is event driven and owns no thread: an item is started (ItemStarter) on
// whichever thread made its grant, and its end is reported with complete(). The
// blocking style (run_blocking) puts a worker pool behind the starter.
//
// Items take their own permits in index order, one outstanding own-acquire at a time:
// the next item asks only when the previous one was granted, so the limiter never holds
// more than one of this batch's waiters (a million-item batch costs no million
// waiters) and cancelling costs one limiter cancel. When the own limit is full by
// concurrency alone (not adaptive), no acquire waits at all: a permit an item gives back
// is taken for the next one by the thread that gave it back, without a waiter, a callback
// or the limiter's lock (own_full_at_). Retries go before items that never
// asked yet, behind the one whose acquire is already waiting. An attempt holds one own permit and
// one shared permit (own first, so the shared quota is never held while the batch's own limit makes
// it wait) and nothing between attempts.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/limiter_backend.hpp"
#include "core/thread_annotations.hpp"
#include "exec/adaptive.hpp"

namespace ptl::exec {

enum class OnFailure : uint32_t { kCollect = 0, kFailFast = 1 };

class BatchRun;

// Plain function-pointer hooks: the C ABI's callbacks pass straight through.
struct ClassifyHook {
  int (*fn)(void* user, int status) = nullptr;  // nullptr: PTL_ERATELIMITED and 429
  void* user = nullptr;
  bool is_rate_limit(int status) const;
};
struct FallbackHook {
  int (*fn)(void* user, size_t index, int last_status) = nullptr;
  void* user = nullptr;
};
struct ItemStarter {
  void (*fn)(void* user, BatchRun* run, size_t index, uint32_t attempt) = nullptr;
  void* user = nullptr;
};
// An item's amounts for the shared limiter (its estimate: tokens, say). The units are
// C strings that must live until the acquire returns; `out` holds kMaxLimits entries.
struct RawAmount {
  const char* unit;
  uint64_t amount;
};
struct EstimateHook {
  size_t (*fn)(void* user, size_t index, RawAmount* out, size_t cap) = nullptr;
  void* user = nullptr;
};
struct DoneHook {
  void (*fn)(void* user, BatchRun* run) = nullptr;
  void* user = nullptr;
};

struct RunOptions {
  core::BasicConfig limits;                  // the batch's own limiter
  std::optional<ControllerConfig> adaptive;  // drives limits.max_concurrent when present
  core::LimiterPtr shared;                   // may be null
  uint32_t max_attempts = 1;
  core::Nanos retry_wait_ns = 0;
  OnFailure failure_policy = OnFailure::kCollect;
  ClassifyHook classify;
  FallbackHook fallback;
  EstimateHook estimate;       // nullptr: the shared limiter's defaults (one request)
  BatchRun* parent = nullptr;  // outlives this run: this run is part of its item
  size_t parent_index = 0;
  // Whatever the hooks' user pointers point into (the C ABI's adapters); freed with
  // the run, after the last hook call.
  std::vector<std::shared_ptr<void>> keep_alive;

  // The one gate options pass before a batch runs (the C ABI calls it as it reads them):
  // an adaptive batch's own limit starts at the controller's initial_concurrent, whatever
  // limits.max_concurrent said; then every field is checked. Throws StatusError(kInvalid) naming
  // the first bad field. BatchRun::start and run_blocking take prepared options.
  void prepare();
};

struct RunCounts {
  uint32_t concurrency = 0;
  uint32_t peak_in_flight = 0;
  uint64_t items = 0, succeeded = 0, failed = 0, canceled = 0, pending = 0;
  uint64_t attempts = 0, retries = 0, rate_limited = 0, fallbacks = 0;
  uint64_t backoffs = 0, recoveries = 0;
  core::Nanos elapsed_ns = 0;
};

// The status of an item that has not settled yet (PTL_EAGAIN).
inline constexpr int kItemPending = -5;

class BatchRun {
 public:
  // Starts acquiring for the items under prepared options (RunOptions::prepare). The caller owns
  // one reference: drop it with release().
  static BatchRun* start(RunOptions options, size_t n, ItemStarter starter, DoneHook done);

  BatchRun(const BatchRun&) = delete;
  BatchRun& operator=(const BatchRun&) = delete;

  // The end of item `index`'s running attempt. Throws StatusError(kInvalid) if none runs.
  void complete(size_t index, int status, core::Nanos retry_after_ns);
  // A rate-limit signal from inside running item `index` that does not end it.
  void signal(size_t index, core::Nanos retry_after_ns);
  // Settles the shared permit of item `index`'s latest attempt with its real usage
  // (core::LimiterBackend::settle: while it runs or after it ended). StatusError(kInvalid) if the
  // item never held a shared permit.
  void settle(size_t index, const core::Demand& actual);
  // The shared limiter, or nullptr.
  core::LimiterBackend* shared() const { return options_.shared.get(); }
  // Items not started settle canceled; running attempts finish and do not retry.
  void cancel();
  // True once every item settled; waits up to timeout_ns (< 0: forever).
  bool wait(core::Nanos timeout_ns);
  // statuses.size() <= item count; kItemPending for an item not settled.
  RunCounts report(std::span<int> statuses);
  size_t size() const { return items_.size(); }

  // The caller's reference is gone: cancels what has not started; the run is freed
  // when its running attempts have completed.
  void release();

 private:
  enum class Phase : uint8_t {
    kQueued,           // wants an own permit (first attempt or retry)
    kAcquiringOwn,     // its own-acquire is outstanding
    kAcquiringShared,  // holds its own permit, waits for the shared one
    kReady,            // holds its permits, not started yet
    kRunning,
    kEnding,     // complete() is handing its permits back and deciding what next
    kRetryWait,  // a timer will queue it again
    kSettled,
  };
  struct Item {
    BatchRun* run = nullptr;
    size_t index = 0;
    Phase phase = Phase::kQueued;
    uint32_t attempt = 0;
    core::PermitId own = 0, shared = 0;
    core::PermitId last_shared = 0;  // the latest attempt's shared permit, for settle()
    uint64_t ticket = 0;             // the outstanding acquire's, once known; 0 if none
    uint64_t grant_epoch = 0;
    int status = kItemPending;
  };
  // Permits to give back once the lock is dropped.
  struct Held {
    core::PermitId own = 0, shared = 0;
  };

  BatchRun(RunOptions options, size_t n, ItemStarter starter, DoneHook done);
  ~BatchRun() = default;

  void add_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref();
  // Holds the run alive for a scope: a callback may settle the last item while the
  // caller drops its reference, and the code after that still touches members.
  struct Ref {
    explicit Ref(BatchRun* r) : run(r) { run->add_ref(); }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    ~Ref() { run->drop_ref(); }
    BatchRun* run;
  };

  // The one loop that moves items forward: starts ready items and issues the next
  // acquire. Runs on one thread at a time (pumping_); others leave work for it.
  void pump();
  // Takes an own permit for the next queued item without waiting, if only a permit of this
  // batch coming back could free one (see own_full_at_). False: issue a waiting acquire.
  bool own_without_wait_locked() PTL_REQUIRES(mutex_);
  // Item holds its own permit now: on to its shared acquire, or ready to start.
  void own_granted_locked(Item& item, core::PermitId permit) PTL_REQUIRES(mutex_);
  static void on_own_granted(void* item, int status, core::PermitId permit);
  static void on_shared_granted(void* item, int status, core::PermitId permit);
  // Issues item's shared acquire with its estimate; called without mutex_.
  void acquire_shared(Item& item, uint64_t* ticket) PTL_EXCLUDES(mutex_);
  void give_back(const Held& held);
  // What follows an attempt's end; decided before its permits go back.
  enum class Next { kRetryNow, kRetryLater, kSettle };
  Next decide_next(Item& item, int status);
  int run_fallback(Item& item, int status);  // the item's final status
  void requeue(size_t index);                // a retry's wait is over
  void rate_limit_signal(uint64_t grant_epoch, core::Nanos retry_after_ns);

  // Under mutex_. settle_locked returns what the caller must do once the lock is
  // dropped, through after_settle(): kLastSettled (finish the run), kTripped (the
  // fail-fast policy cancels the rest).
  enum SettleEffect : int { kNothing = 0, kLastSettled = 1, kTripped = 2 };
  int settle_locked(Item& item, int status) PTL_REQUIRES(mutex_);
  void after_settle(int effects);
  bool next_queued_locked(size_t* index) PTL_REQUIRES(mutex_);
  void finish();

  const RunOptions options_;
  const core::LimiterPtr own_;
  const std::unique_ptr<AdaptiveController> adaptive_;  // null unless adaptive
  const ItemStarter starter_;
  const DoneHook done_hook_;
  const core::Nanos started_at_;
  std::atomic<uint32_t> refs_{2};  // the caller's, and one while items are unsettled
                                   // (plus one per pending retry timer and live call)

  mutable core::Mutex mutex_;
  std::condition_variable settled_cv_;
  // The items are guarded by mutex_; the vector itself is sized once, in the constructor,
  // and its size is read without the lock, so clang (which cannot tell the two apart) is
  // not told. Invariants: settled_ == items in kSettled; running_ == items in kRunning;
  // own_outstanding_ is true iff exactly one item is in kAcquiringOwn.
  std::vector<Item> items_;
  // Items [next_fresh_, n) never asked for a permit.
  size_t next_fresh_ PTL_GUARDED_BY(mutex_) = 0;
  std::deque<size_t> retry_ PTL_GUARDED_BY(mutex_);  // kQueued for a retry, oldest first
  std::deque<size_t> ready_ PTL_GUARDED_BY(mutex_);  // items in kReady, in grant order
  // Own permit granted, shared acquire not issued.
  std::deque<size_t> need_shared_ PTL_GUARDED_BY(mutex_);
  bool own_outstanding_ PTL_GUARDED_BY(mutex_) = false;
  // The own limiter is private to the run, so when it is full by concurrency alone only an
  // item of ours giving its permit back frees one: then no acquire waits in it (a waiter
  // costs a lock section in the limiter and a callback per item). own_returns_ counts the
  // own permits given back (bumped after the release, read under mutex_); own_full_at_ is
  // its value when a try found the limiter full, and no try is made again until it moves.
  // A return that a pump missed is seen by the pump its giver runs next.
  std::atomic<uint64_t> own_returns_{0};
  uint64_t own_full_at_ PTL_GUARDED_BY(mutex_) = UINT64_MAX;
  bool pumping_ PTL_GUARDED_BY(mutex_) = false;
  bool canceled_ PTL_GUARDED_BY(mutex_) = false;
  size_t settled_ PTL_GUARDED_BY(mutex_) = 0;
  uint32_t running_ PTL_GUARDED_BY(mutex_) = 0;
  RunCounts counts_ PTL_GUARDED_BY(mutex_);  // the counters of report(); the rest is derived
  core::Nanos finished_at_ PTL_GUARDED_BY(mutex_) = 0;
};

// The blocking style: fn runs each attempt on one of `workers` library threads (0: the
// concurrency ceiling, at most n). Returns when every item settled.
using ItemFn = int (*)(void* user, BatchRun* run, size_t index, uint32_t attempt,
                       core::Nanos* retry_after_ns);
RunCounts run_blocking(RunOptions options, size_t n, uint32_t workers, ItemFn fn, void* user,
                       std::span<int> statuses);

}  // namespace ptl::exec
