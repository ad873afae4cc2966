// SPDX-License-Identifier: MIT
// ptl.hpp - the header-only C++20 layer over the C ABI (ptl.h).
//
//   ptl::registry().register_limiter("openai", {.max_concurrent = 10, .max_per_window = 60});
//   { auto permit = ptl::registry().get("openai").acquire(); call_openai(item); }
//
// Design
//   - Everything here is inline over ptl.h, so the C ABI stays the only binary interface:
//     no C++ type ever crosses the shared library's boundary.
//   - Misuse and failures throw ptl::Error (status + the library's message). Expected
//     outcomes have non-throwing forms: try_acquire() and try_acquire_for() return
//     std::optional; acquire(timeout) throws Error(PTL_ETIMEDOUT) when the time passes.
//   - Limiter is a copyable reference-counted handle; Permit and Registry are move-only
//     owners. A Permit holds its own reference, so it outlives the Limiter it came from.
//   - Light: this file (with ptl_policy.hpp and ptl_presets.hpp, which it includes) needs
//     only the standard library. The rest is opt-in, one include each:
//       ptl_asio.hpp   ptl::async_acquire and ptl::error_category over Boost.Asio (>= 1.74)
//       ptl_flow.hpp   PocketFlow's graph and the throttled executors (threads)
//       ptl_flow_asio.hpp  the same executors as Boost.Asio coroutines
//   - The preset table (ptl::presets::get/list, ptl::Presets, ptl::FlowPresets) lives in
//     ptl_presets.hpp.
//   - Policies (several limits admitted together, ABI 0.2): ptl::Limit, ptl::Policy, amounts,
//     settle, observations and usage are defined in ptl_policy.hpp;
//     the classes below only declare their policy members.
//   - Durations: a timeout <= 0 tries once; one too long for int64 nanoseconds waits forever.
#pragma once

#include <pocketflow_throttled/ptl.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ptl {

// A failed library call: the PTL_E* status and the message naming the problem.
class Error : public std::runtime_error {
 public:
  // An error of `status` (< 0) with `message`; an empty message becomes the status name.
  Error(int status, const std::string& message)
      : std::runtime_error(message.empty() ? ptl_status_name(status) : message), status_(status) {}
  // The PTL_E* code, e.g. PTL_ENOTFOUND.
  int status() const noexcept { return status_; }
  // The code's symbolic name, e.g. "PTL_ENOTFOUND".
  const char* status_name() const noexcept { return ptl_status_name(status_); }

 private:
  int status_;
};

// Thrown by user work run under a limiter when the upstream API answered "429 Too Many
// Requests"; executors catch it to back off (and to penalize by retry_after when given).
class RateLimitHit : public Error {
 public:
  // `retry_after` is the upstream's "Retry-After", if it sent one.
  explicit RateLimitHit(const std::string& message = "upstream rate limit hit (HTTP 429)",
                        std::optional<std::chrono::nanoseconds> retry_after = std::nullopt)
      : Error(PTL_ERATELIMITED, message), retry_after_(retry_after) {}
  // How long the upstream asked us to wait, if it said.
  std::optional<std::chrono::nanoseconds> retry_after() const noexcept { return retry_after_; }

 private:
  std::optional<std::chrono::nanoseconds> retry_after_;
};

// Limits of one limiter. Defaults equal ptl_limiter_config_init's, so designated
// initializers only name what differs: {.max_concurrent = 10, .max_per_window = 60}.
struct LimiterConfig {
  std::uint32_t max_concurrent = 5;       // permits held at once, >= 1
  std::uint64_t max_per_window = 0;       // grants per window; 0 = no throughput limit
  double window_seconds = 60.0;           // the sliding window's length, finite and > 0
  std::uint64_t max_cost_per_window = 0;  // cost units per window; 0 = no weighted limit

  // The C struct, with struct_size set (conversion also happens implicitly).
  ptl_limiter_config to_c() const noexcept {
    ptl_limiter_config c;
    ptl_limiter_config_init(&c);  // keeps fields added in later versions at their defaults
    c.max_concurrent = max_concurrent;
    c.max_per_window = max_per_window;
    c.window_seconds = window_seconds;
    c.max_cost_per_window = max_cost_per_window;
    return c;
  }
  operator ptl_limiter_config() const noexcept { return to_c(); }
  // The C++ view of a C config.
  static LimiterConfig from_c(const ptl_limiter_config& c) noexcept {
    return {c.max_concurrent, c.max_per_window, c.window_seconds, c.max_cost_per_window};
  }
  friend bool operator==(const LimiterConfig&, const LimiterConfig&) = default;
};

// A snapshot of a limiter's state and counters (see ptl_limiter_stats).
struct LimiterStats {
  LimiterConfig config;
  std::uint32_t in_flight = 0, waiting = 0;
  std::uint64_t current_window_count = 0, current_window_cost = 0;
  std::uint64_t total_acquired = 0, total_timeouts = 0, total_cancelled = 0, total_rejected = 0;
  std::chrono::nanoseconds total_wait{0};  // summed over acquires that had to wait
};

namespace detail {

[[noreturn]] inline void throw_last(int status) {
  throw Error(status, ptl_last_error());
}
inline void check(int status) {
  if (status < 0) throw_last(status);
}

// Nanoseconds in [0, INT64_MAX], rounded up so a wait never ends early.
template <class Rep, class Period>
std::int64_t clamp_ns(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return 0;
  if (std::chrono::duration<double, std::nano>(d).count() >= 9.2e18) return INT64_MAX;
  return std::chrono::ceil<std::chrono::nanoseconds>(d).count();
}

// std::chrono semantics for a timeout (<= 0 tries once) in the C convention, where a
// negative value waits forever.
template <class Rep, class Period>
std::int64_t timeout_ns(std::chrono::duration<Rep, Period> d) {
  const std::int64_t ns = clamp_ns(d);
  return ns == INT64_MAX ? -1 : ns;
}

// Names cross the ABI as C strings; an embedded NUL would silently name another limiter.
inline std::string c_name(std::string_view name) {
  if (name.find('\0') != std::string_view::npos)
    throw Error(PTL_EINVAL, "limiter name contains a NUL byte");
  return std::string(name);
}

inline LimiterStats from_c(const ptl_limiter_stats& s) {
  return {LimiterConfig::from_c(s.config),
          s.in_flight,
          s.waiting,
          s.current_window_count,
          s.current_window_cost,
          s.total_acquired,
          s.total_timeouts,
          s.total_cancelled,
          s.total_rejected,
          std::chrono::nanoseconds(static_cast<std::int64_t>(s.total_wait_ns))};
}

// ptl_acquire* report expected outcomes without a fresh ptl_last_error(), so name them here.
[[noreturn]] inline void throw_acquire(int status, std::int64_t timeout) {
  if (status == PTL_ETIMEDOUT)
    throw Error(status, "acquire: no permit within " + std::to_string(timeout) + " ns");
  if (status == PTL_EAGAIN) throw Error(status, "acquire: no capacity now");
  if (status == PTL_ECANCELED) throw Error(status, "acquire: cancelled");
  throw_last(status);
}

}  // namespace detail

class Permit;
struct TryAcquireResult;
struct Limit;   // one limit of a policy (ptl_policy.hpp)
struct Usage;   // the state of one limit (ptl_policy.hpp)
class Amounts;  // what an acquire asks for or a settle reports: {{"tokens", 1200}}
using Policy = std::vector<Limit>;  // 1..16 limits: ptl::Policy{{"requests", 500, 1min}, ...}
// A policy as any contiguous range of Limit (ptl::Policy, std::array, std::span).
template <class P>
concept PolicyLike = std::is_convertible_v<const P&, std::span<const Limit>>;

// A shared handle to one limiter (a registered one or a private one). Copies refer to the
// same limiter; the limiter lives while any handle or permit refers to it.
class Limiter {
 public:
  // An empty handle; every operation on it throws Error(PTL_EINVAL).
  Limiter() noexcept = default;
  // A private, unregistered limiter.
  static Limiter create(const LimiterConfig& cfg = {}) {
    const ptl_limiter_config c = cfg;
    ptl_limiter* h = nullptr;
    detail::check(ptl_limiter_create(&c, &h));
    return adopt(h);
  }
  // A private limiter of several limits admitted together (see ptl_policy.hpp).
  template <PolicyLike P>
  static Limiter create(const P& policy);
  // Takes over one reference the caller owns (e.g. from ptl_registry_get).
  static Limiter adopt(ptl_limiter* handle) noexcept { return Limiter(handle); }
  // Shares a handle the caller keeps owning (adds a reference).
  static Limiter share(ptl_limiter* handle) noexcept {
    ptl_limiter_ref(handle);
    return Limiter(handle);
  }

  Limiter(const Limiter& o) noexcept : h_(o.h_) { ptl_limiter_ref(h_); }
  Limiter(Limiter&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Limiter& operator=(Limiter o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  ~Limiter() { ptl_limiter_unref(h_); }

  // Waits as long as needed for a permit of cost 1.
  Permit acquire() const;
  // Waits up to `timeout`; throws Error(PTL_ETIMEDOUT), or PTL_EAGAIN for a timeout <= 0.
  template <class Rep, class Period>
  Permit acquire(std::chrono::duration<Rep, Period> timeout) const;
  // Waits as long as needed for a permit of `cost` units of max_cost_per_window.
  Permit acquire_cost(std::uint64_t cost) const;
  // acquire_cost with a timeout; throws like acquire(timeout).
  template <class Rep, class Period>
  Permit acquire_cost(std::uint64_t cost, std::chrono::duration<Rep, Period> timeout) const;
  // Waits up to `timeout` for a permit of `cost`; std::nullopt when none came in time.
  template <class Rep, class Period>
  std::optional<Permit> try_acquire_for(std::chrono::duration<Rep, Period> timeout,
                                        std::uint64_t cost = 1) const;
  // Takes a permit only if one is free now and nobody is queued; never blocks.
  std::optional<Permit> try_acquire() const;
  // try_acquire, also saying how long until a grant may be possible when it fails.
  TryAcquireResult try_acquire_with_retry_after() const;

  // Policies (ptl_policy.hpp). Acquires with amounts by unit, e.g. {{"tokens", 1200}}:
  // "requests" counts 1 unless given, other units 0; the overloads behave as those above.
  Permit acquire(Amounts amounts) const;
  template <class Rep, class Period>
  Permit acquire(Amounts amounts, std::chrono::duration<Rep, Period> timeout) const;
  template <class Rep, class Period>
  std::optional<Permit> try_acquire_for(std::chrono::duration<Rep, Period> timeout,
                                        Amounts amounts) const;
  std::optional<Permit> try_acquire(Amounts amounts) const;
  TryAcquireResult try_acquire_with_retry_after(Amounts amounts) const;
  // The limits now; set_policy changes them live (limits that continue keep their history).
  Policy policy() const;
  template <PolicyLike P>
  void set_policy(const P& policy) const;
  // The provider says at most `remaining` more units of `unit` until `reset_after`.
  template <class Rep, class Period>
  void observe(std::string_view unit, std::uint64_t remaining,
               std::chrono::duration<Rep, Period> reset_after) const;
  // Applies rate-limit response headers (any range of name/value pairs of strings);
  // returns how many observations were applied.
  template <class Headers>
  int observe_headers(const Headers& headers) const;
  int observe_headers(
      std::initializer_list<std::pair<std::string_view, std::string_view>> headers) const;
  // The state of the limit (unit, window); window 0 is the unit's held limit.
  Usage usage(std::string_view unit, std::chrono::nanoseconds window) const;

  // A snapshot of the limiter's state and counters.
  LimiterStats stats() const {
    ptl_limiter_stats s{};
    s.struct_size = sizeof s;
    detail::check(ptl_limiter_stats_get(h_, &s));
    return detail::from_c(s);
  }
  // Changes the limits in place; permits in flight and the window's history still count.
  void reconfigure(const LimiterConfig& cfg) const {
    const ptl_limiter_config c = cfg;
    detail::check(ptl_limiter_reconfigure(h_, &c));
  }
  // An upstream said "retry after": nobody sharing this limiter gets a permit for that long.
  template <class Rep, class Period>
  void penalize(std::chrono::duration<Rep, Period> retry_after) const {
    detail::check(ptl_limiter_penalize(h_, detail::clamp_ns(retry_after)));
  }

  // The C handle, still owned by this object.
  ptl_limiter* native_handle() const noexcept { return h_; }
  // False for an empty handle.
  explicit operator bool() const noexcept { return h_ != nullptr; }
  // True when both refer to the same limiter.
  friend bool operator==(const Limiter&, const Limiter&) = default;

 private:
  explicit Limiter(ptl_limiter* h) noexcept : h_(h) {}
  ptl_limiter* h_ = nullptr;
};

// The right to one slot of a limiter, given back when the Permit is destroyed. Move-only:
// exactly one owner releases it, so a permit is never returned twice.
class Permit {
 public:
  // An empty permit (holds nothing).
  Permit() noexcept = default;
  // Takes ownership of `value`, a permit of `lim` acquired through the C API.
  static Permit adopt(Limiter lim, ptl_permit value) noexcept {
    Permit p;
    p.lim_ = std::move(lim);
    p.value_ = value;
    return p;
  }

  Permit(Permit&& o) noexcept
      : lim_(std::move(o.lim_)),
        value_(std::exchange(o.value_, 0)),
        released_(std::exchange(o.released_, 0)) {}
  Permit& operator=(Permit&& o) noexcept {
    if (this != &o) {
      reset();
      lim_ = std::move(o.lim_);
      value_ = std::exchange(o.value_, 0);
      released_ = std::exchange(o.released_, 0);
    }
    return *this;
  }
  // Releases a permit still held; a failure cannot be reported from here and is dropped.
  ~Permit() { reset(); }

  // Gives the permit back now; throws Error if the library refuses (e.g. already empty).
  void release() { finish(false, 0); }
  // Gives it back, correcting its cost in the window to `actual_cost` (e.g. real tokens).
  void release(std::uint64_t actual_cost) { finish(true, actual_cost); }
  // The real usage, known after the call: replaces the estimate of each unit given
  // (ptl_settle). Works while held and after release(); once per unit.
  void settle(Amounts actual) const;

  // The C permit value; 0 when not held (released, empty or moved from).
  ptl_permit value() const noexcept { return value_; }
  // The limiter the permit belongs to; kept after release() (for settle), empty when the
  // permit is empty or moved from.
  const Limiter& limiter() const noexcept { return lim_; }
  // True while the permit is held.
  explicit operator bool() const noexcept { return value_ != 0; }

 private:
  void reset() noexcept {
    if (value_ != 0) ptl_release(lim_.native_handle(), std::exchange(value_, 0));
    released_ = 0;
    lim_ = Limiter();
  }
  // Not held before calling the library, so a refused release is not retried later.
  void finish(bool with_cost, std::uint64_t cost) {
    if (value_ == 0) throw Error(PTL_EINVAL, "release: the permit is not held");
    released_ = std::exchange(value_, 0);
    detail::check(with_cost ? ptl_release_cost(lim_.native_handle(), released_, cost)
                            : ptl_release(lim_.native_handle(), released_));
  }

  Limiter lim_;
  ptl_permit value_ = 0;     // held
  ptl_permit released_ = 0;  // released by release(): kept so that settle() still works
};

// What try_acquire_with_retry_after() found.
struct TryAcquireResult {
  Permit permit;  // held on success
  // On failure: the time until the window, cost or a penalty allows a grant, or
  // std::nullopt when only a release can free capacity.
  std::optional<std::chrono::nanoseconds> retry_after;
  // True when a permit was taken.
  explicit operator bool() const noexcept { return static_cast<bool>(permit); }
};

inline Permit Limiter::acquire() const {
  ptl_permit p = 0;
  if (const int rc = ptl_acquire(h_, -1, &p); rc != PTL_OK) detail::throw_acquire(rc, -1);
  return Permit::adopt(*this, p);
}

template <class Rep, class Period>
Permit Limiter::acquire(std::chrono::duration<Rep, Period> timeout) const {
  const std::int64_t t = detail::timeout_ns(timeout);
  ptl_permit p = 0;
  if (const int rc = ptl_acquire(h_, t, &p); rc != PTL_OK) detail::throw_acquire(rc, t);
  return Permit::adopt(*this, p);
}

inline Permit Limiter::acquire_cost(std::uint64_t cost) const {
  ptl_permit p = 0;
  if (const int rc = ptl_acquire_cost(h_, cost, -1, &p); rc != PTL_OK)
    detail::throw_acquire(rc, -1);
  return Permit::adopt(*this, p);
}

template <class Rep, class Period>
Permit Limiter::acquire_cost(std::uint64_t cost, std::chrono::duration<Rep, Period> timeout) const {
  const std::int64_t t = detail::timeout_ns(timeout);
  ptl_permit p = 0;
  if (const int rc = ptl_acquire_cost(h_, cost, t, &p); rc != PTL_OK) detail::throw_acquire(rc, t);
  return Permit::adopt(*this, p);
}

template <class Rep, class Period>
std::optional<Permit> Limiter::try_acquire_for(std::chrono::duration<Rep, Period> timeout,
                                               std::uint64_t cost) const {
  ptl_permit p = 0;
  const int rc = ptl_acquire_cost(h_, cost, detail::timeout_ns(timeout), &p);
  if (rc == PTL_ETIMEDOUT || rc == PTL_EAGAIN) return std::nullopt;
  detail::check(rc);
  return Permit::adopt(*this, p);
}

inline std::optional<Permit> Limiter::try_acquire() const {
  ptl_permit p = 0;
  const int rc = ptl_try_acquire(h_, &p, nullptr);
  if (rc == PTL_EAGAIN) return std::nullopt;
  detail::check(rc);
  return Permit::adopt(*this, p);
}

inline TryAcquireResult Limiter::try_acquire_with_retry_after() const {
  ptl_permit p = 0;
  std::int64_t retry = -1;
  const int rc = ptl_try_acquire(h_, &p, &retry);
  if (rc == PTL_EAGAIN) {
    if (retry < 0) return {};
    return {Permit(), std::chrono::nanoseconds(retry)};
  }
  detail::check(rc);
  return {Permit::adopt(*this, p), std::nullopt};
}

// One limiter of a registry, as ptl_registry_list reports it.
struct RegistryEntry {
  std::string name;
  LimiterConfig config;
};

// A namespace of named limiters. Default-constructed it is the process default registry
// (backend from PTL_REGISTRY_URI); Registry::open gives an owned one, closed on destruction.
// Like a default-constructed one, a moved-from Registry refers to the default registry.
class Registry {
 public:
  // The process default registry (not owned; nothing to close).
  Registry() noexcept = default;
  // Opens "local:" (a new private registry), "shm://NAME" or "redis://HOST:PORT[/DB]".
  static Registry open(std::string_view uri) {
    const std::string u(uri);
    ptl_registry* h = nullptr;
    detail::check(ptl_registry_open(u.c_str(), &h));
    return Registry(h);
  }

  Registry(Registry&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Registry& operator=(Registry&& o) noexcept {
    if (this != &o) ptl_registry_close(std::exchange(h_, std::exchange(o.h_, nullptr)));
    return *this;
  }
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  // Closes an opened registry; Limiter handles obtained from it stay valid.
  ~Registry() { ptl_registry_close(h_); }

  // Registers `name`; Error(PTL_EEXIST) if it exists unless `replace`, which then changes
  // its limits in place (in-flight permits and history still count).
  void register_limiter(std::string_view name, const LimiterConfig& cfg, bool replace = false) {
    const ptl_limiter_config c = cfg;
    detail::check(
        ptl_registry_register(h_, detail::c_name(name).c_str(), &c, replace ? PTL_REPLACE : 0u));
  }
  // Registers `name` with a policy (ptl_policy.hpp); `replace` sets it live.
  template <PolicyLike P>
  void register_limiter(std::string_view name, const P& policy, bool replace = false);
  // The limiter `name`; Error(PTL_ENOTFOUND) if there is none.
  Limiter get(std::string_view name) const {
    ptl_limiter* l = nullptr;
    detail::check(ptl_registry_get(h_, detail::c_name(name).c_str(), &l));
    return Limiter::adopt(l);
  }
  // The limiter `name`, registered with `cfg` first if absent (one atomic step).
  Limiter get_or_create(std::string_view name, const LimiterConfig& cfg = {}) {
    const ptl_limiter_config c = cfg;
    ptl_limiter* l = nullptr;
    detail::check(ptl_registry_get_or_create(h_, detail::c_name(name).c_str(), &c, &l));
    return Limiter::adopt(l);
  }
  // The limiter `name`, registered with `policy` first if absent (one atomic step).
  template <PolicyLike P>
  Limiter get_or_create(std::string_view name, const P& policy);
  // Whether `name` is registered.
  bool exists(std::string_view name) const {
    const int rc = ptl_registry_exists(h_, detail::c_name(name).c_str());
    detail::check(rc);
    return rc == 1;
  }
  // Unregisters `name`; false if there was none. Handles already obtained keep working.
  bool remove(std::string_view name) {
    const int rc = ptl_registry_remove(h_, detail::c_name(name).c_str());
    if (rc == PTL_ENOTFOUND) return false;
    detail::check(rc);
    return true;
  }
  // Unregisters every limiter.
  void reset() { detail::check(ptl_registry_reset(h_)); }
  // Every limiter's name and limits, in name order.
  std::vector<RegistryEntry> list() const {
    struct Ctx {
      std::vector<RegistryEntry> out;
      std::exception_ptr error;  // exceptions must not unwind through the C library
    } ctx;
    const int rc = ptl_registry_list(
        h_,
        [](void* user, const char* name, const ptl_limiter_config* cfg) -> int {
          auto* c = static_cast<Ctx*>(user);
          try {
            c->out.push_back({name, LimiterConfig::from_c(*cfg)});
            return 0;
          } catch (...) {
            c->error = std::current_exception();
            return 1;
          }
        },
        &ctx);
    if (ctx.error) std::rethrow_exception(ctx.error);
    detail::check(rc);
    return std::move(ctx.out);
  }
  // Statistics of limiter `name`.
  LimiterStats stats(std::string_view name) const {
    ptl_limiter_stats s{};
    s.struct_size = sizeof s;
    detail::check(ptl_registry_stats(h_, detail::c_name(name).c_str(), &s));
    return detail::from_c(s);
  }

  // The C handle (NULL for the default registry), still owned by this object.
  ptl_registry* native_handle() const noexcept { return h_; }

 private:
  explicit Registry(ptl_registry* h) noexcept : h_(h) {}
  ptl_registry* h_ = nullptr;
};

// The process default registry, shared by every component of the process.
inline Registry registry() noexcept {
  return Registry();
}

}  // namespace ptl

#include <pocketflow_throttled/ptl_policy.hpp>
#include <pocketflow_throttled/ptl_presets.hpp>
