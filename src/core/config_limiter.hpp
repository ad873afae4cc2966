// SPDX-License-Identifier: MIT
// ConfigLimiter: the base of a backend that holds only 0.1 configs (one window, one
// cost). It maps the policy interface onto that: a policy must be a 0.1 config
// (PolicySpec::from_config), a demand at most a tokens amount, and settle/observe are
// refused with kInvalid naming the backend. A backend leaves it once it holds policies.
#pragma once

#include <optional>
#include <string>

#include "core/limiter_backend.hpp"

namespace ptl::core {

class ConfigLimiter : public LimiterBackend {
 public:
  Status acquire(const Demand& demand, Nanos timeout_ns, PermitId* out) final {
    return acquire(cost_of(demand), timeout_ns, out);
  }
  Status try_acquire(const Demand& demand, PermitId* out, Nanos* retry_after_ns) final {
    return try_acquire(cost_of(demand), out, retry_after_ns);
  }
  void acquire_async(const Demand& demand, Nanos timeout_ns, AcquireCallback cb,
                     uint64_t* ticket) final {
    acquire_async(cost_of(demand), timeout_ns, cb, ticket);
  }
  void settle(PermitId, const Demand&) final { unsupported("ptl_settle"); }
  void observe(std::string_view, uint64_t, Nanos) final { unsupported("ptl_observe"); }
  void set_policy(const PolicySpec& policy) final {
    const BasicConfig config = policy.to_config();
    if (!(PolicySpec::from_config(config).limits == policy.limits)) {
      unsupported("a policy other than a 0.1 config");
    }
    reconfigure(config);
  }
  PolicySpec policy() final { return PolicySpec::from_config(config()); }
  LimitUsage usage(std::string_view unit, Nanos window_ns) final {
    const PolicySpec p = policy();
    const int i = p.find(unit, window_ns);
    if (i < 0) fail(Status::kNotFound, "the policy has no limit " + std::string(unit));
    const StatsSnapshot st = stats();
    LimitUsage u;
    u.max = p.limits[static_cast<size_t>(i)].max;
    u.window_ns = window_ns;
    u.used = window_ns == 0    ? st.in_flight
             : unit == kTokens ? st.current_window_cost
                               : st.current_window_count;
    u.next_room_ns = u.used < u.max ? 0 : -1;
    return u;
  }

 protected:
  virtual const char* backend_name() const = 0;
  virtual Status acquire(uint64_t cost, Nanos timeout_ns, PermitId* out) = 0;
  virtual Status try_acquire(uint64_t cost, PermitId* out, Nanos* retry_after_ns) = 0;
  virtual void acquire_async(uint64_t cost, Nanos timeout_ns, AcquireCallback cb,
                             uint64_t* ticket) = 0;
  virtual void reconfigure(const BasicConfig& config) = 0;
  virtual BasicConfig config() = 0;

  // The cost check of 0.1: a cost the window can never hold.
  static void check_cost(const BasicConfig& config, uint64_t cost) {
    if (config.max_cost_per_window != 0 && cost > config.max_cost_per_window) {
      fail(Status::kInvalid, "cost " + std::to_string(cost) + " exceeds max_cost_per_window " +
                                 std::to_string(config.max_cost_per_window));
    }
  }

 private:
  uint64_t cost_of(const Demand& d) {
    uint64_t cost = 1;
    for (size_t i = 0; i < d.n; ++i) {
      if (d.amounts[i].unit == kTokens) {
        cost = d.amounts[i].amount;
      } else if (!(d.amounts[i].unit == kRequests && d.amounts[i].amount == 1)) {
        unsupported("amounts other than tokens");
      }
    }
    return cost;
  }
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(Status::kInvalid,
         std::string(backend_name()) + " limiters do not support " + what + " yet");
  }
};

}  // namespace ptl::core
