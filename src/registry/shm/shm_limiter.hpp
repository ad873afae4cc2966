// ShmLimiter: a handle on one limiter of an shm:// segment.
//
// All state is in the segment (limiter_ops.hpp); the handle holds the limiter block's
// address and identity (uid). Every operation locks the block and checks the uid: a
// limiter removed from the registry (by any process) answers Error(kClosed) from then on
// (ADR 8), and its waiters are woken and complete with kClosed.
#pragma once

#include <memory>
#include <string>

#include "core/limiter.hpp"
#include "registry/shm/layout.hpp"

namespace ptl::shm {

class Segment;
class LimiterLock;
struct Ticket;

class ShmLimiter final : public core::Limiter {
 public:
  // A new handle of the segment's limiter at `block` with identity `uid`.
  ShmLimiter(std::shared_ptr<Segment> seg, LimiterBlock* block, uint64_t uid, std::string name);
  ~ShmLimiter() override;

  core::Status acquire(uint64_t cost, core::Nanos timeout_ns, core::Permit* out) override;
  core::Status try_acquire(uint64_t cost, core::Permit* out, core::Nanos* retry_after_ns) override;
  void release(core::Permit permit, std::optional<uint64_t> actual_cost) override;
  void acquire_async(uint64_t cost, core::Nanos timeout_ns, core::AcquireCallback cb,
                     uint64_t* ticket) override;
  core::Status cancel(uint64_t ticket) override;
  void penalize(core::Nanos retry_after_ns) override;
  void reconfigure(const core::LimiterConfig& config) override;
  core::LimiterConfig config() override;
  core::LimiterStats stats() override;

 protected:
  void close() override;

 private:
  // Grants at once if nobody is queued and there is room (after a sweep for dead
  // holders if the limiter is full). kOk / kNoMemory if it granted, else kAgain.
  core::Status try_now(uint64_t cost, core::Nanos* now, core::Nanos* retry_at, core::Permit* out);
  core::Status wait(LimiterLock& lock, const Ticket& t, core::Nanos deadline, core::Permit* out);
  void check_live(const LimiterLock& lock) const;
  [[noreturn]] void fail_closed() const;
  [[noreturn]] void fail_bad_permit(core::Permit permit) const;
  // A waiter finished with kBackend by whoever dispatched. Requires the limiter's lock.
  [[noreturn]] void fail_unserved(LimiterBlock& b) const;

  std::shared_ptr<Segment> seg_;
  LimiterBlock* b_;
  uint64_t uid_;
  std::string name_;
};

}  // namespace ptl::shm
