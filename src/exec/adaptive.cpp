// SPDX-License-Identifier: MIT
#include "exec/adaptive.hpp"

#include <algorithm>
#include <cmath>

#include "core/status.hpp"
#include "core/thread_annotations.hpp"
#include "log/log.hpp"

namespace ptl::exec {

void ControllerConfig::validate() const {
  using core::fail;
  using core::Status;
  if (min_concurrent < 1) fail(Status::kInvalid, "adaptive min_concurrent must be >= 1");
  if (max_concurrent < min_concurrent) {
    fail(Status::kInvalid, "adaptive max_concurrent must be >= min_concurrent");
  }
  if (initial_concurrent < min_concurrent || initial_concurrent > max_concurrent) {
    fail(Status::kInvalid,
         "adaptive initial_concurrent must lie in [min_concurrent, max_concurrent]");
  }
  if (recovery_threshold < 1) fail(Status::kInvalid, "adaptive recovery_threshold must be >= 1");
  if (!(backoff_factor > 0.0 && backoff_factor < 1.0)) {
    fail(Status::kInvalid, "adaptive backoff_factor must be in (0, 1)");
  }
  if (!(recovery_factor >= 1.0) || !std::isfinite(recovery_factor)) {
    fail(Status::kInvalid, "adaptive recovery_factor must be finite and >= 1");
  }
}

AdaptiveController::AdaptiveController(const ControllerConfig& config, core::LimiterPtr target)
    : config_(config), target_(std::move(target)) {
  config_.validate();
  stats_.current = config_.initial_concurrent;
  sync_target();
}

void AdaptiveController::on_success() {
  {
    core::MutexLock lock(mutex_);
    ++stats_.successes;
    if (++stats_.consecutive_successes < config_.recovery_threshold) return;
    stats_.consecutive_successes = 0;
    const double grown = std::floor(stats_.current * config_.recovery_factor);
    // At least +1: the original's int(1 * 1.2) == 1 stayed at 1 for good.
    const auto next = static_cast<uint32_t>(
        std::min<double>(config_.max_concurrent, std::max<double>(stats_.current + 1.0, grown)));
    if (next == stats_.current) return;
    ++stats_.recoveries;
    log::logger().debug("adaptive concurrency {} -> {} (recovery)", stats_.current, next);
    stats_.current = next;
  }
  sync_target();
}

void AdaptiveController::on_rate_limit(uint64_t grant_epoch) {
  {
    core::MutexLock lock(mutex_);
    ++stats_.rate_limits;
    stats_.consecutive_successes = 0;
    if (grant_epoch != epoch_.load(std::memory_order_relaxed)) return;  // answered already
    epoch_.fetch_add(1, std::memory_order_release);
    const double shrunk = std::floor(stats_.current * config_.backoff_factor);
    const auto next = static_cast<uint32_t>(std::max<double>(config_.min_concurrent, shrunk));
    if (next == stats_.current) return;
    ++stats_.backoffs;
    log::logger().debug("adaptive concurrency {} -> {} (backoff)", stats_.current, next);
    stats_.current = next;
  }
  sync_target();
}

AdaptiveStats AdaptiveController::stats() const {
  core::MutexLock lock(mutex_);
  return stats_;
}

void AdaptiveController::sync_target() {
  for (;;) {
    uint32_t want;
    {
      core::MutexLock lock(mutex_);
      want = stats_.current;
    }
    // Only the concurrency changes: the target's other limits stay as they are.
    core::PolicySpec policy = target_->policy();
    if (policy.max_held_requests() != want) {
      policy.set_held_requests(want);
      target_->set_policy(policy);
    }
    core::MutexLock lock(mutex_);
    if (stats_.current == want) return;
  }
}

}  // namespace ptl::exec
