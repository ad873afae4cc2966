// Limiter: the interface every backend's limiter implements (local, shm, redis).
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
#include "core/status.hpp"

namespace ptl::core {

using Permit = uint64_t;

struct LimiterStats {
  LimiterConfig config;
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

// Completion of an asynchronous acquire: runs exactly once, never under a limiter lock.
struct AcquireCallback {
  void (*fn)(void* user, int status, Permit permit) = nullptr;
  void* user = nullptr;
  void operator()(Status status, Permit permit) const {
    fn(user, static_cast<int>(status), permit);
  }
};

class Limiter {
 public:
  Limiter() = default;
  Limiter(const Limiter&) = delete;
  Limiter& operator=(const Limiter&) = delete;
  virtual ~Limiter() = default;

  // Waits up to timeout_ns (< 0 forever, 0 = try once: kAgain) for a permit of `cost`.
  virtual Status acquire(uint64_t cost, Nanos timeout_ns, Permit* out) = 0;
  // Never blocks and never jumps the queue; *retry_after_ns as in ptl_try_acquire.
  virtual Status try_acquire(uint64_t cost, Permit* out, Nanos* retry_after_ns) = 0;
  // Throws Error(kInvalid) for a permit that is not outstanding here.
  virtual void release(Permit permit, std::optional<uint64_t> actual_cost) = 0;
  // cb runs exactly once, possibly before this returns; not at all if this throws.
  virtual void acquire_async(uint64_t cost, Nanos timeout_ns, AcquireCallback cb,
                             uint64_t* ticket) = 0;
  // kOk after cb ran with kCanceled, or kNotFound.
  virtual Status cancel(uint64_t ticket) = 0;
  virtual void penalize(Nanos retry_after_ns) = 0;
  virtual void reconfigure(const LimiterConfig& config) = 0;
  virtual LimiterConfig config() = 0;
  virtual LimiterStats stats() = 0;

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

  // The caller's cost check shared by every backend: a cost the window can never hold.
  static void check_cost(const LimiterConfig& config, uint64_t cost);

 private:
  std::atomic<uint32_t> refs_{1};
  std::atomic<uint32_t> keepalives_{1};  // the users' references count as one
};

// Keeps a limiter's memory (not the limiter open) while a timer is pending for it.
class KeepAlive {
 public:
  explicit KeepAlive(Limiter* l) : limiter_(l) { limiter_->add_keepalive(); }
  KeepAlive(const KeepAlive& other) : KeepAlive(other.limiter_) {}
  KeepAlive& operator=(const KeepAlive&) = delete;
  ~KeepAlive() { limiter_->drop_keepalive(); }
  Limiter* get() const { return limiter_; }

 private:
  Limiter* limiter_;
};

inline void intrusive_ptr_add_ref(Limiter* l) {
  l->add_ref();
}
inline void intrusive_ptr_release(Limiter* l) {
  l->drop_ref();
}

using LimiterPtr = boost::intrusive_ptr<Limiter>;

}  // namespace ptl::core
