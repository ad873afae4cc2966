// SPDX-License-Identifier: MIT
// ShmLimiter: a handle on one limiter of an shm:// segment.
//
// All state is in the segment (limiter_ops.hpp, policy_state.hpp, grants.hpp); the
// handle holds the limiter block's address and identity (uid). Every operation locks the
// block and checks the uid: a limiter removed from the registry (by any process) answers
// StatusError(kClosed) from then on (ADR 8), and its waiters are woken and complete with
// kClosed. Demands are resolved (core::resolve_charges) against the policy read under
// the lock; the handle caches that policy by the block's policy_version.
#pragma once

#include <memory>
#include <string>

#include "core/limiter_backend.hpp"
#include "registry/shm/layout.hpp"
#include "registry/shm/policy_state.hpp"

namespace ptl::shm {

class Segment;
class LimiterLock;
struct Ticket;

class ShmLimiter final : public core::LimiterBackend {
 public:
  // A new handle of the segment's limiter at `block` with identity `uid`.
  ShmLimiter(std::shared_ptr<Segment> seg, LimiterBlock* block, uint64_t uid, std::string name);
  ~ShmLimiter() override;

  core::Status acquire(const core::Demand& demand, core::Nanos timeout_ns,
                       core::PermitId* out) override;
  core::Status try_acquire(const core::Demand& demand, core::PermitId* out,
                           core::Nanos* retry_after_ns) override;
  void release(core::PermitId permit, std::optional<uint64_t> actual_cost) override;
  void acquire_async(const core::Demand& demand, core::Nanos timeout_ns, core::AcquireCallback cb,
                     uint64_t* ticket) override;
  core::Status cancel(uint64_t ticket) override;
  void settle(core::PermitId permit, const core::Demand& actual) override;
  void observe(std::string_view unit, uint64_t remaining, core::Nanos reset_after_ns) override;
  void penalize(core::Nanos retry_after_ns) override;
  void set_policy(const core::PolicySpec& policy) override;
  core::PolicySpec policy() override;
  core::LimitUsage usage(std::string_view unit, core::Nanos window_ns) override;
  core::StatsSnapshot stats() override;

 protected:
  void close() override;

 private:
  // The block's policy, cached. Requires the limiter's lock.
  const core::PolicySpec& policy_locked();
  // The demand under the current policy. Requires the lock; throws StatusError(kInvalid).
  UnitDemand resolve_locked(const core::Demand& demand);
  // Grants at once if nobody is queued and there is room (after a sweep for dead
  // holders if only a release could make room). kOk / kNoMemory if it granted, else
  // kAgain.
  core::Status try_now(const UnitDemand& d, core::Nanos* now, core::Nanos* retry_at,
                       core::PermitId* out);
  core::Status wait(LimiterLock& lock, const Ticket& t, core::Nanos deadline, core::PermitId* out);
  void check_live(const LimiterLock& lock) const;
  [[noreturn]] void fail_closed() const;
  [[noreturn]] void fail_bad_permit(core::PermitId permit) const;
  // A waiter finished with kBackend by whoever dispatched. Requires the limiter's lock.
  [[noreturn]] void fail_unserved(LimiterBlock& b) const;

  std::shared_ptr<Segment> seg_;
  LimiterBlock* b_;
  uint64_t uid_;
  std::string name_;
  // Guarded by the limiter's lock (every thread of this process takes it too).
  core::PolicySpec cached_policy_;
  UnitDemand default_demand_;  // what a demand naming no unit charges under cached_policy_
  uint64_t cached_version_ = UINT64_MAX;
};

}  // namespace ptl::shm
