// SPDX-License-Identifier: MIT
// ptl_policy.hpp - policies in C++ (ABI 0.2; "policies (0.2)" in ptl.h, ADR 15): several
// limits admitted together, acquires with amounts, settle, provider observations, usage.
// Included by ptl.hpp, which declares the members of Limiter, Permit and Registry defined here.
//
//   using namespace std::chrono_literals;
//   ptl::Registry& reg = ...;
//   reg.register_limiter("openai", ptl::Policy{{"requests", 500, 1min},
//                                              {"tokens", 30000, 1min},
//                                              {"requests", 10000, 24h}});
//   ptl::Limiter lim = reg.get("openai");
//   ptl::Permit permit = lim.acquire({{"tokens", prompt_tokens + max_tokens}}, 30s);
//   Response r = call(...);
//   permit.settle({{"tokens", r.total_tokens}});   // before or after permit.release()
//   lim.observe_headers(r.headers);                // what the provider says is left
//   ptl::Usage u = lim.usage("tokens", 1min);      // u.used, u.max, u.next_room ...
// No #pragma once: included first, this file includes ptl.hpp, which includes it again at
// the point where its definitions belong; the guard below keeps the one copy.
#include <pocketflow_throttled/ptl.hpp>

#ifndef POCKETFLOW_THROTTLED_PTL_POLICY_HPP
#define POCKETFLOW_THROTTLED_PTL_POLICY_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ptl {

// One limit of a policy: at most `max` units of `unit` granted in any `window` (a strict
// sliding window), or, with window 0, held at once (a concurrency limit).
struct Limit {
  std::string unit;  // "requests", "tokens", "input_tokens", ...: 1..32 bytes of [a-z0-9_]
  std::uint64_t max = 0;
  std::chrono::nanoseconds window{0};  // 0: a held limit
  // True for a concurrency limit (window 0).
  bool held() const noexcept { return window.count() == 0; }
  friend bool operator==(const Limit&, const Limit&) = default;
};

// How many units of `unit` an acquire asks for, or a settle says were used.
struct Amount {
  std::string unit;
  std::uint64_t amount = 0;
  friend bool operator==(const Amount&, const Amount&) = default;
};

// A view of amounts: a braced list ({{"tokens", 1200}, {"requests", 1}}) or any contiguous
// range of Amount (std::vector, std::array, std::span). Like std::string_view it does not own
// them: pass it straight to a call; keep a std::vector<ptl::Amount> to store amounts.
class Amounts {
 public:
  Amounts(std::initializer_list<Amount> list) noexcept : items_(list.begin(), list.size()) {}
  template <class R>
  requires std::is_convertible_v<const R&, std::span<const Amount>> Amounts(const R& range)
  noexcept : items_(range) {}  // NOLINT(google-explicit-constructor)
  std::span<const Amount> items() const noexcept { return items_; }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }
  std::size_t size() const noexcept { return items_.size(); }

 private:
  std::span<const Amount> items_;
};

// The state of one limit (ptl_limiter_usage).
struct Usage {
  std::uint64_t max = 0;
  std::chrono::nanoseconds window{0};  // 0: a held limit
  std::uint64_t used = 0;              // granted in the window now, or held now
  // What the provider says is left (ptl::Limiter::observe), while an observation is in force.
  std::optional<std::uint64_t> observed_cap;
  // From now until one more unit fits: zero when it fits now; std::nullopt when only a
  // release can make room.
  std::optional<std::chrono::nanoseconds> next_room;
};

namespace detail {

// A unit crosses the ABI as a C string; an embedded NUL would silently name another unit.
inline const char* c_unit(const std::string& unit) {
  if (unit.find('\0') != std::string::npos) throw Error(PTL_EINVAL, "unit contains a NUL byte");
  return unit.c_str();
}

// Amounts as the C ABI takes them, on the stack up to PTL_MAX_LIMITS units (more is always
// refused by the library, which names the problem). Points into the Amount strings.
class CAmounts {
 public:
  explicit CAmounts(Amounts amounts) : size_(amounts.size()) {
    ptl_amount* out = small_.data();
    if (size_ > small_.size()) {
      big_.resize(size_);
      out = big_.data();
    }
    for (std::size_t i = 0; i < size_; ++i) {
      out[i] = {c_unit(amounts.items()[i].unit), amounts.items()[i].amount};
    }
    data_ = out;
  }
  CAmounts(const CAmounts&) = delete;
  CAmounts& operator=(const CAmounts&) = delete;
  const ptl_amount* data() const noexcept { return size_ == 0 ? nullptr : data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  std::array<ptl_amount, PTL_MAX_LIMITS> small_{};
  std::vector<ptl_amount> big_;
  const ptl_amount* data_ = nullptr;
  std::size_t size_ = 0;
};

// A policy as the C ABI takes it; points into the Limit strings.
class CPolicy {
 public:
  explicit CPolicy(std::span<const Limit> limits) {
    limits_.reserve(limits.size());
    for (const Limit& l : limits) limits_.push_back({c_unit(l.unit), l.max, l.window.count()});
    ptl_policy_init(&policy_);
    // More than 16 limits is refused by the library; the count only has to stay large.
    policy_.n_limits =
        static_cast<std::uint32_t>(std::min<std::size_t>(limits_.size(), UINT32_MAX));
    policy_.limits = limits_.data();
  }
  CPolicy(const CPolicy&) = delete;
  CPolicy& operator=(const CPolicy&) = delete;
  const ptl_policy* get() const noexcept { return &policy_; }

 private:
  std::vector<ptl_limit> limits_;
  ptl_policy policy_{};
};

inline Policy from_c(const ptl_limit* limits, std::size_t n) {
  Policy out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back({limits[i].unit, limits[i].max, std::chrono::nanoseconds(limits[i].window_ns)});
  }
  return out;
}

}  // namespace detail

template <PolicyLike P>
Limiter Limiter::create(const P& policy) {
  const detail::CPolicy c{std::span<const Limit>(policy)};
  ptl_limiter* h = nullptr;
  detail::check(ptl_limiter_create_policy(c.get(), &h));
  return adopt(h);
}

inline Permit Limiter::acquire(Amounts amounts) const {
  const detail::CAmounts a(amounts);
  ptl_permit p = 0;
  if (const int rc = ptl_acquire_amounts(h_, a.data(), a.size(), -1, &p); rc != PTL_OK)
    detail::throw_acquire(rc, -1);
  return Permit::adopt(*this, p);
}

template <class Rep, class Period>
Permit Limiter::acquire(Amounts amounts, std::chrono::duration<Rep, Period> timeout) const {
  const detail::CAmounts a(amounts);
  const std::int64_t t = detail::timeout_ns(timeout);
  ptl_permit p = 0;
  if (const int rc = ptl_acquire_amounts(h_, a.data(), a.size(), t, &p); rc != PTL_OK)
    detail::throw_acquire(rc, t);
  return Permit::adopt(*this, p);
}

template <class Rep, class Period>
std::optional<Permit> Limiter::try_acquire_for(std::chrono::duration<Rep, Period> timeout,
                                               Amounts amounts) const {
  const detail::CAmounts a(amounts);
  ptl_permit p = 0;
  const int rc = ptl_acquire_amounts(h_, a.data(), a.size(), detail::timeout_ns(timeout), &p);
  if (rc == PTL_ETIMEDOUT || rc == PTL_EAGAIN) return std::nullopt;
  detail::check(rc);
  return Permit::adopt(*this, p);
}

inline std::optional<Permit> Limiter::try_acquire(Amounts amounts) const {
  TryAcquireResult r = try_acquire_with_retry_after(amounts);
  if (!r) return std::nullopt;
  return std::move(r.permit);
}

inline TryAcquireResult Limiter::try_acquire_with_retry_after(Amounts amounts) const {
  const detail::CAmounts a(amounts);
  ptl_permit p = 0;
  std::int64_t retry = -1;
  const int rc = ptl_try_acquire_amounts(h_, a.data(), a.size(), &p, &retry);
  if (rc == PTL_EAGAIN) {
    if (retry < 0) return {};
    return {Permit(), std::chrono::nanoseconds(retry)};
  }
  detail::check(rc);
  return {Permit::adopt(*this, p), std::nullopt};
}

inline Policy Limiter::policy() const {
  std::array<ptl_limit, PTL_MAX_LIMITS> small{};
  std::size_t n = 0;
  detail::check(ptl_limiter_get_policy(h_, small.data(), small.size(), &n));
  if (n <= small.size()) return detail::from_c(small.data(), n);
  std::vector<ptl_limit> big(n);  // a later library with more limits per policy
  detail::check(ptl_limiter_get_policy(h_, big.data(), big.size(), &n));
  return detail::from_c(big.data(), std::min(n, big.size()));
}

template <PolicyLike P>
void Limiter::set_policy(const P& policy) const {
  const detail::CPolicy c{std::span<const Limit>(policy)};
  detail::check(ptl_limiter_set_policy(h_, c.get()));
}

template <class Rep, class Period>
void Limiter::observe(std::string_view unit, std::uint64_t remaining,
                      std::chrono::duration<Rep, Period> reset_after) const {
  const std::string u(unit);
  detail::check(ptl_observe(h_, detail::c_unit(u), remaining, detail::clamp_ns(reset_after)));
}

template <class Headers>
int Limiter::observe_headers(const Headers& headers) const {
  // Copies, since names and values cross the ABI as C strings.
  std::vector<std::string> text;
  for (const auto& [name, value] : headers) {
    text.emplace_back(std::string_view(name));
    text.emplace_back(std::string_view(value));
  }
  std::vector<const char*> names, values;
  names.reserve(text.size() / 2);
  values.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    names.push_back(text[i].c_str());
    values.push_back(text[i + 1].c_str());
  }
  const int rc = ptl_observe_headers(h_, names.size(), names.data(), values.data());
  detail::check(rc);
  return rc;
}

inline int Limiter::observe_headers(
    std::initializer_list<std::pair<std::string_view, std::string_view>> headers) const {
  return observe_headers<decltype(headers)>(headers);
}

inline Usage Limiter::usage(std::string_view unit, std::chrono::nanoseconds window) const {
  const std::string u(unit);
  ptl_usage c{};
  c.struct_size = sizeof c;
  detail::check(ptl_limiter_usage(h_, detail::c_unit(u), window.count(), &c));
  Usage out;
  out.max = c.max;
  out.window = std::chrono::nanoseconds(c.window_ns);
  out.used = c.used;
  if (c.observed_cap != UINT64_MAX) out.observed_cap = c.observed_cap;
  if (c.next_room_ns >= 0) out.next_room = std::chrono::nanoseconds(c.next_room_ns);
  return out;
}

inline void Permit::settle(Amounts actual) const {
  const ptl_permit v = value_ != 0 ? value_ : released_;
  if (v == 0) throw Error(PTL_EINVAL, "settle: the permit is empty (never granted, or moved from)");
  const detail::CAmounts a(actual);
  detail::check(ptl_settle(lim_.native_handle(), v, a.data(), a.size()));
}

template <PolicyLike P>
void Registry::register_limiter(std::string_view name, const P& policy, bool replace) {
  const detail::CPolicy c{std::span<const Limit>(policy)};
  detail::check(ptl_registry_register_policy(h_, detail::c_name(name).c_str(), c.get(),
                                             replace ? PTL_REPLACE : 0u));
}

template <PolicyLike P>
Limiter Registry::get_or_create(std::string_view name, const P& policy) {
  const detail::CPolicy c{std::span<const Limit>(policy)};
  ptl_limiter* l = nullptr;
  detail::check(ptl_registry_get_or_create_policy(h_, detail::c_name(name).c_str(), c.get(), &l));
  return Limiter::adopt(l);
}

}  // namespace ptl

#endif  // POCKETFLOW_THROTTLED_PTL_POLICY_HPP
