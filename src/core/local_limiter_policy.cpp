// SPDX-License-Identifier: MIT
// The policy side of LocalLimiter: changing the policy live, settling usage, provider
// observations, and what ptl_limiter_usage and the stats report (ADR 15).
#include <algorithm>
#include <limits>

#include "core/local_limiter.hpp"
#include "core/saturating.hpp"
#include "core/thread_annotations.hpp"
#include "log/log.hpp"

namespace ptl::core {

PolicySpec LocalLimiter::apply_policy_locked(const PolicySpec& policy) {
  PolicySpec old = policy_ ? *policy_ : PolicySpec{};
  policy_ = intern_policy(policy);
  requests_held_ = policy_->find(kRequests, 0);
  // Fast mode serves the requests-held limit and one window of requests small enough
  // for a ring; any other limit needs the lock.
  policy_has_tokens_.store(policy_->has_unit(kTokens), std::memory_order_relaxed);
  window_fast_ = -1;
  const size_t others = policy_->limits.size() - (requests_held_ >= 0 ? 1u : 0u);
  for (size_t i = 0; i < policy_->limits.size() && others == 1; ++i) {
    const LimitSpec& l = policy_->limits[i];
    if (!l.held() && l.unit == kRequests && l.max <= WindowRing::kMaxSlots) {
      window_fast_ = static_cast<int8_t>(i);
    }
  }
  always_slow_ = others != 0 && window_fast_ < 0;
  // Callers are in slow mode (or constructing): the old ring is closed, and a new
  // policy's window gets its ring when slow mode ends.
  if (window_fast_ < 0) ring_.store(nullptr, std::memory_order_release);
  const std::optional<uint64_t> max_held = policy_->max_held_requests();
  max_concurrent_.store(
      static_cast<uint32_t>(std::min<uint64_t>(max_held.value_or(UINT32_MAX), UINT32_MAX)),
      std::memory_order_relaxed);
  if (!slow_) return old;  // slow() builds the limits' state from policy_ when first needed

  // Limits that stay keep their state; records and waiters follow them to new indexes.
  SlowState& ss = *slow_;
  ss.default_charges = resolve_charges(*policy_, nullptr, 0);
  const size_t n = policy_->limits.size();
  const std::vector<int> from = match_limits(old, *policy_);
  std::vector<LimitState> limits(n);
  for (size_t j = 0; j < n; ++j) {
    const LimitSpec& l = policy_->limits[j];
    if (from[j] >= 0) {
      limits[j] = std::move(ss.limits[static_cast<size_t>(from[j])]);
    } else if (!l.held()) {
      limits[j].log = std::make_unique<SlidingWindow>();
    }
  }
  ss.limits = std::move(limits);
  int64_t adjust = 0;
  // Copied for the lambdas: clang does not see that they run under this lock.
  const int requests_held = requests_held_;
  const PolicySpec& current = *policy_;
  ss.grants.for_each([&](GrantRecord& r, bool held) {
    GrantRecord moved = r;
    moved.settled = 0;
    for (size_t j = 0; j < n; ++j) {
      const auto i = static_cast<size_t>(from[j]);
      // A limit new to the permit: not charged, so its release gives nothing back; the
      // requests-held limit counts every held permit as one request.
      moved.charges.amount[j] = from[j] >= 0 ? r.charges.amount[i] : 0;
      moved.entry[j] = from[j] >= 0 ? r.entry[i] : 0;
      if (from[j] >= 0 && (r.settled >> i & 1u)) moved.settled |= 1u << j;
      if (static_cast<int>(j) == requests_held && from[j] < 0) moved.charges.amount[j] = 1;
    }
    moved.charges.n = static_cast<uint32_t>(n);
    r = moved;
    if (held && requests_held >= 0) {
      adjust += static_cast<int64_t>(r.charges.amount[static_cast<size_t>(requests_held)]) - 1;
    }
  });
  ss.requests_adjust = adjust;
  std::erase_if(ss.caps, [&](const UnitCaps& uc) { return !current.has_unit(uc.unit); });
  for (UnitCaps& uc : ss.caps) {
    for (size_t j = 0; j < n; ++j) {
      if (policy_->limits[j].unit == uc.unit) uc.limit = j;
    }
  }
  return old;
}

void LocalLimiter::set_policy(const PolicySpec& policy) {
  Completions done;
  MutexLock lock(mutex_);
  enter_slow_locked();  // bumps the tag: fast acquires that read the old limit now fail
  SlowState& ss = slow();
  const PolicySpec old = apply_policy_locked(policy);
  const Nanos now = clock_->now();
  for (auto it = ss.waiters.begin(); it != ss.waiters.end();) {
    Waiter& w = *it++;
    bool too_big = false;
    w.charges = remap_charges(old, w.charges, *policy_, &too_big);
    if (too_big) finish_waiter_locked(w, Status::kInvalid, now, done);  // it can never fit
  }
  if (always_slow_) enter_slow_locked();
  log::logger().info("limiter policy set: {} limits; {} in flight", policy_->limits.size(),
                     in_flight());
  dispatch_locked(now, done);
}

PolicySpec LocalLimiter::policy() {
  MutexLock lock(mutex_);
  return *policy_;
}

// ---- settle -----------------------------------------------------------------------------

void LocalLimiter::settle(PermitId permit, const Demand& actual) {
  Completions done;
  MutexLock lock(mutex_);
  // Check everything before changing anything: a refused settle changes nothing.
  for (size_t k = 0; k < actual.n; ++k) {
    const std::string_view unit = actual.amounts[k].unit;
    for (size_t j = 0; j < k; ++j) {
      if (actual.amounts[j].unit == unit) {
        fail(Status::kInvalid, "unit '" + std::string(unit) + "' is given twice");
      }
    }
    if (!policy_->has_unit(unit) && !(actual.lenient_tokens && unit == kTokens)) {
      fail(Status::kInvalid, "unit '" + std::string(unit) + "' is not in the limiter's policy");
    }
  }
  enter_slow_locked();
  SlowState& ss = slow();
  const Nanos now = clock_->now();
  forget_settled_locked(now);
  const auto slot = static_cast<uint32_t>(permit & PermitTable::kSlotMask);
  const bool held = permits_.find(permit) != nullptr;
  GrantRecord* r = held ? ss.grants.held(permit, slot) : ss.grants.released(permit);
  if (held && r == nullptr) {
    // Granted on the lock-free path: it charged one request and nothing else.
    // Its grant time is unknown (0): no cap charged it, so none gets a refund.
    r = &ss.grants.open(permit, slot, ss.default_charges, 0);
  }
  if (r == nullptr) {
    leave_slow_if_idle_locked(now);
    fail(Status::kInvalid, "permit " + std::to_string(permit) +
                               " is not held on this limiter and not remembered (released "
                               "longer ago than its windows, another limiter's, or never granted)");
  }
  for (size_t k = 0; k < actual.n; ++k) {
    if (r->settled_unit(*policy_, actual.amounts[k].unit)) {
      leave_slow_if_idle_locked(now);
      fail(Status::kInvalid, "unit '" + std::string(actual.amounts[k].unit) + "' of permit " +
                                 std::to_string(permit) + " is settled already");
    }
  }
  for (size_t k = 0; k < actual.n; ++k) {
    if (policy_->has_unit(actual.amounts[k].unit)) {
      settle_unit_locked(*r, actual.amounts[k].unit, actual.amounts[k].amount, held);
    }
  }
  dispatch_locked(now, done);  // less than estimated frees room at once
}

void LocalLimiter::settle_unit_locked(GrantRecord& r, std::string_view unit, uint64_t actual,
                                      bool held) {
  SlowState& ss = slow();
  uint64_t was = 0;
  for (size_t i = 0; i < policy_->limits.size(); ++i) {
    const LimitSpec& l = policy_->limits[i];
    if (l.unit != unit) continue;
    was = r.charges.amount[i];
    if (!l.held()) {
      ss.limits[i].log->correct(r.entry[i], was, actual);
    } else if (held && static_cast<int>(i) == requests_held_) {
      ss.requests_adjust += static_cast<int64_t>(actual) - static_cast<int64_t>(was);
    } else if (held) {
      ss.limits[i].held =
          saturating_add(ss.limits[i].held - std::min(ss.limits[i].held, was), actual);
    }
    r.charges.amount[i] = actual;
    r.settled |= 1u << i;
  }
  // The provider counts what was used: an excess is charged to the caps, a shortfall
  // given back to those that charged the estimate.
  for (UnitCaps& uc : ss.caps) {
    if (uc.unit != unit) continue;
    if (actual > was) uc.caps.charge(actual - was);
    if (actual < was) uc.caps.refund(was - actual, r.granted_at);
  }
}

void LocalLimiter::forget_settled_locked(Nanos now) {
  const Nanos longest = policy_->longest_window();
  slow().grants.forget_granted_before(now - longest - 1);
}

// ---- observations -------------------------------------------------------------------------

LocalLimiter::UnitCaps* LocalLimiter::caps_of_locked(std::string_view unit) {
  for (UnitCaps& uc : slow().caps) {
    if (uc.unit == unit) return &uc;
  }
  return nullptr;
}

void LocalLimiter::observe(std::string_view unit, uint64_t remaining, Nanos reset_after_ns) {
  validate_unit(unit);
  if (reset_after_ns < 0) fail(Status::kInvalid, "reset_after_ns must be >= 0");
  Completions done;
  MutexLock lock(mutex_);
  if (!policy_->has_unit(unit)) {
    fail(Status::kInvalid, "unit '" + std::string(unit) + "' is not in the limiter's policy");
  }
  enter_slow_locked();
  const Nanos now = clock_->now();
  UnitCaps* uc = caps_of_locked(unit);
  if (uc == nullptr) {
    UnitCaps fresh;
    fresh.unit = std::string(unit);
    for (size_t j = 0; j < policy_->limits.size(); ++j) {
      if (policy_->limits[j].unit == unit) fresh.limit = j;
    }
    slow().caps.push_back(std::move(fresh));
    uc = &slow().caps.back();
  }
  uc->caps.observe(now, remaining, std::min(deadline_after(now, reset_after_ns), kNever - 1));
  log::logger().debug("observed {} {} left for {} ms", remaining, unit, reset_after_ns / 1000000);
  dispatch_locked(now, done);
}

// ---- reports ------------------------------------------------------------------------------

LimitUsage LocalLimiter::usage(std::string_view unit, Nanos window_ns) {
  MutexLock lock(mutex_);
  const int found = policy_->find(unit, window_ns);
  if (found < 0) {
    fail(Status::kNotFound,
         "the policy has no limit of " + std::string(unit) +
             (window_ns == 0 ? " held" : " per " + std::to_string(window_ns) + " ns"));
  }
  const auto i = static_cast<size_t>(found);
  const LimitSpec& l = policy_->limits[i];
  // The window's grants are in its ring in fast mode: read them from the log.
  if (window_fast_ >= 0) enter_slow_locked();
  LimitUsage u;
  u.max = l.max;
  u.window_ns = l.window_ns;
  if (!slow_) {  // fast mode: the requests-held limit only
    u.used = in_flight();
    u.next_room_ns = u.used < u.max ? 0 : -1;
    return u;
  }
  SlowState& ss = *slow_;
  const Nanos now = clock_->now();
  Nanos fit = std::max(now, ss.penalty_until);
  if (l.held()) {
    u.used = held_locked(i);
    if (u.used >= u.max) fit = kNever;
  } else {
    ss.limits[i].log->evict(now, l.window_ns);
    u.used = ss.limits[i].log->sum();
    fit = std::max(fit, ss.limits[i].log->earliest_fit(now, l.window_ns, l.max, 1));
  }
  if (UnitCaps* uc = caps_of_locked(unit)) {
    uc->caps.evict(now);
    u.observed_cap = uc->caps.cap();
    if (fit != kNever) fit = std::max(fit, uc->caps.earliest_fit(now, 1));
  }
  u.next_room_ns = fit == kNever ? -1 : fit - now;
  leave_slow_if_idle_locked(now);
  return u;
}

StatsSnapshot LocalLimiter::stats() {
  MutexLock lock(mutex_);
  StatsSnapshot st;
  st.config = policy_->to_config();
  st.in_flight = in_flight();
  st.total_acquired = permits_.total_issued();
  st.total_rejected = rejected_.load(std::memory_order_relaxed);
  if (window_fast_ >= 0) enter_slow_locked();  // the window's grants, from the log
  if (slow_) {
    st.waiting = static_cast<uint32_t>(slow_->waiters.size());
    const Nanos now = clock_->now();
    // The 0.1 view: the requests and tokens limits of the config's window.
    const Nanos window = st.config.window_ns();
    for (size_t i = 0; i < policy_->limits.size(); ++i) {
      const LimitSpec& l = policy_->limits[i];
      if (l.window_ns != window) continue;
      SlidingWindow& log = *slow_->limits[i].log;
      log.evict(now, window);
      if (l.unit == kRequests) st.current_window_count = log.sum();
      if (l.unit == kTokens) st.current_window_cost = log.sum();
    }
    st.total_timeouts = slow_->timeouts;
    st.total_cancelled = slow_->cancelled;
    st.total_wait_ns = slow_->wait_ns;
    leave_slow_if_idle_locked(now);
  }
  return st;
}

}  // namespace ptl::core
