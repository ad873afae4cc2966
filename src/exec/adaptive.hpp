// SPDX-License-Identifier: MIT
// AdaptiveController: the concurrency of an adaptive node or flow, steered by the
// upstream's rate-limit signals (backoff) and by runs of successes (recovery).
//
// Unlike the original, which replaced its limiter on every change and so forgot the
// calls in flight, the controller reconfigures the live limiter in place.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/limiter_backend.hpp"
#include "core/thread_annotations.hpp"

namespace ptl::exec {

struct ControllerConfig {
  uint32_t initial_concurrent = 5;
  uint32_t min_concurrent = 1;
  uint32_t max_concurrent = 20;
  uint32_t recovery_threshold = 10;
  double backoff_factor = 0.5;
  double recovery_factor = 1.2;

  // Throws StatusError(kInvalid) naming the first bad field.
  void validate() const;
};

struct AdaptiveStats {
  uint32_t current = 0;
  uint64_t successes = 0;
  uint64_t rate_limits = 0;  // every signal, including those of a wave already handled
  uint64_t backoffs = 0;
  uint64_t recoveries = 0;
  uint32_t consecutive_successes = 0;
};

class AdaptiveController {
 public:
  // Steers `target`'s max_concurrent (its other limits stay); starts it at initial.
  AdaptiveController(const ControllerConfig& config, core::LimiterPtr target);

  // The wave an attempt belongs to: read it when the attempt is granted, pass it back
  // with the attempt's signal.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  void on_success();

  // A rate-limit signal from an attempt granted in `grant_epoch`. Shrinks only if no
  // shrink happened since that grant: one 429 wave is one congestion event, as in
  // TCP's one window cut per round trip; halving once per failed call in flight would
  // collapse to the minimum whatever the real limit.
  void on_rate_limit(uint64_t grant_epoch);

  AdaptiveStats stats() const;

 private:
  // Brings the target's max_concurrent to stats_.current. Called without mutex_:
  // reconfiguring grants waiters, whose callbacks may report successes and signals
  // back into this controller on the same thread. Loops until what it applied is
  // still wanted, so of two racing changes the later one wins.
  void sync_target() PTL_EXCLUDES(mutex_);

  const ControllerConfig config_;
  const core::LimiterPtr target_;
  mutable core::Mutex mutex_;
  // Invariant: min_concurrent <= stats_.current <= max_concurrent; the target's
  // max_concurrent equals it whenever no sync_target() is running.
  AdaptiveStats stats_ PTL_GUARDED_BY(mutex_);
  std::atomic<uint64_t> epoch_{0};  // written under mutex_; read without it
};

}  // namespace ptl::exec
