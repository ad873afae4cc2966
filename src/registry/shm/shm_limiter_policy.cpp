// SPDX-License-Identifier: MIT
// The policy side of ShmLimiter (ADR 15), as LocalLimiter's: changing the policy live,
// settling usage, provider observations, and what usage and stats report.
#include <algorithm>
#include <string>

#include "log/log.hpp"
#include "registry/shm/grants.hpp"
#include "registry/shm/limiter_ops.hpp"
#include "registry/shm/segment.hpp"
#include "registry/shm/shm_limiter.hpp"
#include "registry/shm/window_log.hpp"

namespace ptl::shm {

void ShmLimiter::set_policy(const core::PolicySpec& policy) {
  policy.validate();
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  change_policy(*seg_, b, policy);  // a full segment: an error, and the policy unchanged
  const core::Nanos now = core::monotonic_now();
  finish_too_big(*seg_, b, now);  // a waiter that can never fit any more
  log::logger().info("limiter '{}' policy set: {} limits; {} in flight", name_,
                     policy.limits.size(), b.in_flight);
  if (b.waiting > 0) dispatch(*seg_, b, now);
}

core::PolicySpec ShmLimiter::policy() {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  return policy_locked();
}

void ShmLimiter::settle(core::PermitId permit, const core::Demand& actual) {
  for (size_t k = 0; k < actual.n; ++k) {
    for (size_t j = 0; j < k; ++j) {
      if (actual.amounts[j].unit == actual.amounts[k].unit) {
        core::fail(core::Status::kInvalid,
                   "unit '" + std::string(actual.amounts[k].unit) + "' is given twice");
      }
    }
  }
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  // Check everything before changing anything: a refused settle changes nothing.
  UnitSettle units[kMaxLimits];
  size_t n = 0;
  for (size_t k = 0; k < actual.n; ++k) {
    const int u = unit_index(b, actual.amounts[k].unit);
    if (u < 0 && actual.lenient_tokens && actual.amounts[k].unit == core::kTokens) continue;
    if (u < 0 || n == kMaxLimits) {
      core::fail(core::Status::kInvalid, "unit '" + std::string(actual.amounts[k].unit) +
                                             "' is not in the limiter's policy");
    }
    units[n++] = {static_cast<uint32_t>(u), actual.amounts[k].amount};
  }
  const core::Nanos now = core::monotonic_now();
  forget_released(*seg_, b, now);
  GrantCharges* g = nullptr;
  bool held = false;
  if (Slot* s = held_slot(*seg_, b, permit)) {
    g = &s->grant;
    held = true;
  } else if (ReleasedRecord* r = find_released(*seg_, b, permit)) {
    g = &r->grant;
  }
  if (g == nullptr) {
    core::fail(core::Status::kInvalid,
               "permit " + std::to_string(permit) +
                   " is not held on this limiter and not remembered (released longer ago than "
                   "its windows, another limiter's, reclaimed, or never granted)");
  }
  for (size_t k = 0; k < n; ++k) {
    if (settled_unit(b, *g, units[k].unit)) {
      core::fail(core::Status::kInvalid, "unit '" + std::string(actual.amounts[k].unit) +
                                             "' of permit " + std::to_string(permit) +
                                             " is settled already");
    }
  }
  settle_grant(*seg_, b, *g, held, units, n);
  if (b.waiting > 0) dispatch(*seg_, b, now);  // less than estimated frees room at once
}

void ShmLimiter::observe(std::string_view unit, uint64_t remaining, core::Nanos reset_after_ns) {
  core::validate_unit(unit);
  if (reset_after_ns < 0) core::fail(core::Status::kInvalid, "reset_after_ns must be >= 0");
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  const int u = unit_index(b, unit);
  if (u < 0) {
    core::fail(core::Status::kInvalid,
               "unit '" + std::string(unit) + "' is not in the limiter's policy");
  }
  const core::Nanos now = core::monotonic_now();
  // On a copy, stored whole: a holder that dies inside leaves the old caps or the new.
  core::ObservedCaps caps = b.units[u].caps;
  caps.observe(now, remaining,
               std::min(core::deadline_after(now, reset_after_ns), core::kNever - 1));
  b.units[u].caps = caps;
  log::logger().debug("limiter '{}': observed {} {} left for {} ms", name_, remaining, unit,
                      reset_after_ns / 1000000);
  if (b.waiting > 0) dispatch(*seg_, b, now);
}

core::LimitUsage ShmLimiter::usage(std::string_view unit, core::Nanos window_ns) {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  const int found = policy_locked().find(unit, window_ns);
  if (found < 0) {
    core::fail(core::Status::kNotFound,
               "the policy has no limit of " + std::string(unit) +
                   (window_ns == 0 ? " held" : " per " + std::to_string(window_ns) + " ns"));
  }
  const core::Nanos now = core::monotonic_now();
  sweep(*seg_, b, now);  // exact at the time of the call, as stats
  LimitRecord& l = limit_at(b, static_cast<uint32_t>(found));
  core::LimitUsage us;
  us.max = l.max;
  us.window_ns = l.window_ns;
  core::Nanos fit = std::max(now, b.penalty_until);
  if (l.window_ns == 0) {
    us.used = l.held;
    if (us.used >= us.max) fit = core::kNever;
  } else {
    log_evict(*seg_, l, now);
    us.used = l.sum;
    fit = std::max(fit, log_earliest_fit(*seg_, l, now, 1));
  }
  UnitRecord& ur = b.units[l.unit % kMaxLimits];
  if (!ur.caps.empty()) {
    ur.caps.evict(now);
    us.observed_cap = ur.caps.cap();
    if (fit != core::kNever) fit = std::max(fit, ur.caps.earliest_fit(now, 1));
  }
  us.next_room_ns = fit == core::kNever ? -1 : fit - now;
  return us;
}

core::StatsSnapshot ShmLimiter::stats() {
  seg_->check_process();
  LimiterLock lock(*seg_, *b_);
  check_live(lock);
  LimiterBlock& b = *b_;
  const core::Nanos now = core::monotonic_now();
  // Exact at the time of the call: dead processes' permits and waiters do not count.
  sweep(*seg_, b, now);
  if (b.waiting > 0) dispatch(*seg_, b, now);
  core::StatsSnapshot st;
  st.config = policy_locked().to_config();
  st.in_flight = b.in_flight;
  st.waiting = b.waiting;
  // The 0.1 view: the requests and tokens limits of the config's window.
  const core::Nanos window = st.config.window_ns();
  for (uint32_t i = 0; i < b.n_limits; ++i) {
    LimitRecord& l = limit_at(b, i);
    if (l.window_ns == 0 || l.window_ns != window) continue;
    log_evict(*seg_, l, now);
    const std::string_view unit(b.units[l.unit % kMaxLimits].name,
                                std::min<size_t>(b.units[l.unit % kMaxLimits].len, 32));
    if (unit == core::kRequests) st.current_window_count = l.sum;
    if (unit == core::kTokens) st.current_window_cost = l.sum;
  }
  st.total_acquired = b.total_acquired;
  st.total_timeouts = b.total_timeouts;
  st.total_cancelled = b.total_cancelled;
  st.total_rejected = b.total_rejected;
  st.total_wait_ns = b.total_wait_ns;
  return st;
}

}  // namespace ptl::shm
