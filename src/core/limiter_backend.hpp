// SPDX-License-Identifier: MIT
// LimiterBackend: the interface every backend's limiter implements (local, shm, redis).
//
// Reference counted intrusively because the C ABI hands out raw pointers that are
// ref'ed and unref'ed across the boundary; boost::intrusive_ptr holds them inside.
// Two counts: users' references (handles, registries) decide when the limiter closes,
// which completes pending async acquires with kClosed; keep-alives (the users' count
// as one, plus pending timers) decide when its memory goes. So a timer never keeps a
// limiter open that nobody can reach.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include <boost/intrusive_ptr.hpp>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/status.hpp"

namespace ptl::core {

using PermitId = uint64_t;

struct StatsSnapshot {
  BasicConfig config;
  uint32_t in_flight = 0;
  uint32_t waiting = 0;
  uint64_t current_window_count = 0;
  uint64_t current_window_cost = 0;
  uint64_t total_acquired = 0;
  uint64_t total_timeouts = 0;
  uint64_t total_cancelled = 0;
  uint64_t total_rejected = 0;
  uint64_t total_wait_ns = 0;
};

// What one acquire asks for: amounts by unit (policy.hpp: resolve_charges gives the
// defaults of units left out). lenient_tokens marks the 0.1 cost calls, whose "tokens"
// amount is dropped on a limiter without a tokens limit instead of refused.
struct Demand {
  const UnitAmount* amounts = nullptr;
  size_t n = 0;
  bool lenient_tokens = false;
};

// One limit's state, as ptl_limiter_usage reports it.
struct LimitUsage {
  uint64_t max = 0;
  Nanos window_ns = 0;
  uint64_t used = 0;                   // in the window now, or held now for a held limit
  uint64_t observed_cap = UINT64_MAX;  // what the provider says is left; MAX: nothing in force
  Nanos next_room_ns = 0;              // until one more unit fits; 0 = now; -1 = a release must
};

// Completion of an asynchronous acquire: runs exactly once, never under a limiter lock.
struct AcquireCallback {
  void (*fn)(void* user, int status, PermitId permit) = nullptr;
  void* user = nullptr;
  void operator()(Status status, PermitId permit) const {
    fn(user, static_cast<int>(status), permit);
  }
};

class LimiterBackend {
 public:
  LimiterBackend() = default;
  LimiterBackend(const LimiterBackend&) = delete;
  LimiterBackend& operator=(const LimiterBackend&) = delete;
  virtual ~LimiterBackend() = default;

  // Waits up to timeout_ns (< 0 forever, 0 = try once: kAgain) for room for `demand` in
  // every limit of the policy. Throws StatusError(kInvalid) for a demand the policy refuses.
  virtual Status acquire(const Demand& demand, Nanos timeout_ns, PermitId* out) = 0;
  // Never blocks and never jumps the queue; *retry_after_ns as in ptl_try_acquire.
  virtual Status try_acquire(const Demand& demand, PermitId* out, Nanos* retry_after_ns) = 0;
  // Throws StatusError(kInvalid) for a permit that is not outstanding here. actual_cost is
  // 0.1's release_cost: settle(tokens = actual_cost, lenient) before the release.
  virtual void release(PermitId permit, std::optional<uint64_t> actual_cost) = 0;
  // cb runs exactly once, possibly before this returns; not at all if this throws.
  virtual void acquire_async(const Demand& demand, Nanos timeout_ns, AcquireCallback cb,
                             uint64_t* ticket) = 0;
  // kOk after cb ran with kCanceled, or kNotFound.
  virtual Status cancel(uint64_t ticket) = 0;
  // Replaces the estimate of the actual's units in every limit of those units, from the
  // grant's time. Once per unit and permit, before or after its release; StatusError(kInvalid)
  // for an unknown permit, a unit settled twice or absent from the policy.
  virtual void settle(PermitId permit, const Demand& actual) = 0;
  // The provider says at most `remaining` more units of `unit` until reset_after_ns from
  // now; only ever tightens. StatusError(kInvalid) for a unit the policy lacks.
  virtual void observe(std::string_view unit, uint64_t remaining, Nanos reset_after_ns) = 0;
  virtual void penalize(Nanos retry_after_ns) = 0;
  // Live, in place: limits that stay (same unit and window) keep their history.
  virtual void set_policy(const PolicySpec& policy) = 0;
  virtual PolicySpec policy() = 0;
  // StatusError(kNotFound) when the policy has no limit (unit, window_ns).
  virtual LimitUsage usage(std::string_view unit, Nanos window_ns) = 0;
  virtual StatsSnapshot stats() = 0;

  // The 0.1 calls, in terms of the above.
  Status acquire_cost(uint64_t cost, Nanos timeout_ns, PermitId* out) {
    const UnitAmount a{kTokens, cost};
    return acquire(Demand{&a, 1, true}, timeout_ns, out);
  }
  void reconfigure(const BasicConfig& config) { set_policy(PolicySpec::from_config(config)); }
  BasicConfig config() { return policy().to_config(); }

  void add_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      close();
      drop_keepalive();
    }
  }
  void add_keepalive() { keepalives_.fetch_add(1, std::memory_order_relaxed); }
  void drop_keepalive() {
    if (keepalives_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 protected:
  // The last user reference is gone: complete whatever still waits.
  virtual void close() {}

 private:
  std::atomic<uint32_t> refs_{1};
  std::atomic<uint32_t> keepalives_{1};  // the users' references count as one
};

// Keeps a limiter's memory (not the limiter open) while a timer is pending for it.
class KeepAlive {
 public:
  explicit KeepAlive(LimiterBackend* l) : limiter_(l) { limiter_->add_keepalive(); }
  KeepAlive(const KeepAlive& other) : KeepAlive(other.limiter_) {}
  KeepAlive& operator=(const KeepAlive&) = delete;
  ~KeepAlive() { limiter_->drop_keepalive(); }
  LimiterBackend* get() const { return limiter_; }

 private:
  LimiterBackend* limiter_;
};

inline void intrusive_ptr_add_ref(LimiterBackend* l) {
  l->add_ref();
}
inline void intrusive_ptr_release(LimiterBackend* l) {
  l->drop_ref();
}

using LimiterPtr = boost::intrusive_ptr<LimiterBackend>;

}  // namespace ptl::core
