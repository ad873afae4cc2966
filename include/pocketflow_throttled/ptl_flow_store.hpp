// SPDX-License-Identifier: MIT
// ptl_flow_store.hpp - what flows carry besides the graph: Params (per node copy), Shared
// (the run's store, used from many threads) and the warning hook. Included by
// ptl_flow_graph.hpp.
#pragma once

#include <pocketflow_throttled/ptl.hpp>

#include <any>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ptl {

namespace detail {

// A value as params and the shared store keep it: string literals become std::string, so
// get<std::string>("lang") finds {"lang", "fr"}.
template <class V>
std::any to_any(V&& value) {
  using D = std::decay_t<V>;
  if constexpr (std::is_same_v<D, const char*> || std::is_same_v<D, char*>)
    return std::string(value);
  else
    return std::any(std::forward<V>(value));
}

// The entry `key` of `values` as a T, or a ptl::Error naming the problem.
template <class T, class Map>
const T& any_get(const Map& values, std::string_view key, const char* what) {
  const auto it = values.find(key);
  if (it == values.end())
    throw Error(PTL_ENOTFOUND, std::string(what) + " '" + std::string(key) + "' is not set");
  if (const T* v = std::any_cast<T>(&it->second)) return *v;
  throw Error(PTL_EINVAL, std::string(what) + " '" + std::string(key) + "' holds a " +
                              it->second.type().name() + ", not the type asked for");
}

using AnyMap = std::map<std::string, std::any, std::less<>>;

}  // namespace detail

// PocketFlow's params: what a flow hands to every node it visits (a user id, a language).
// A value type; each node copy holds its own.
class Params {
 public:
  // One {key, value} of an initializer list: Params{{"user", 7}, {"lang", "fr"}}.
  struct Entry {
    template <class V>
    Entry(std::string k, V&& v) : key(std::move(k)), value(detail::to_any(std::forward<V>(v))) {}
    std::string key;
    std::any value;
  };

  Params() = default;
  Params(std::initializer_list<Entry> entries) {
    for (const Entry& e : entries) values_.insert_or_assign(e.key, e.value);
  }

  // Sets `key` (string literals are stored as std::string).
  template <class V>
  Params& set(std::string key, V&& value) {
    values_.insert_or_assign(std::move(key), detail::to_any(std::forward<V>(value)));
    return *this;
  }
  // The value of `key`; Error(PTL_ENOTFOUND) if unset, Error(PTL_EINVAL) if not a T.
  template <class T>
  const T& get(std::string_view key) const {
    return detail::any_get<T>(values_, key, "param");
  }
  // The value of `key`, or nullptr when it is unset or not a T.
  template <class T>
  const T* find(std::string_view key) const {
    const auto it = values_.find(key);
    return it == values_.end() ? nullptr : std::any_cast<T>(&it->second);
  }
  bool contains(std::string_view key) const { return values_.find(key) != values_.end(); }
  std::size_t size() const noexcept { return values_.size(); }
  bool empty() const noexcept { return values_.empty(); }

  // These params with `over`'s entries replacing ours: PocketFlow's {**flow, **instance}.
  Params merged_with(const Params& over) const {
    Params out = *this;
    for (const auto& [k, v] : over.values_) out.values_.insert_or_assign(k, v);
    return out;
  }

  auto begin() const noexcept { return values_.begin(); }
  auto end() const noexcept { return values_.end(); }

 private:
  detail::AnyMap values_;
};

// PocketFlow's shared store: one per run, seen by every node and every parallel flow
// instance. Unlike Python's dict it is used from many threads at once, so each call locks;
// update() makes a read-modify-write (appending a result) one step.
class Shared {
 public:
  Shared() = default;
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  template <class V>
  void set(std::string key, V&& value) {
    std::any v = detail::to_any(std::forward<V>(value));  // built outside the lock
    const std::lock_guard lock(mu_);
    values_.insert_or_assign(std::move(key), std::move(v));
  }
  // A copy of `key`'s value (a reference would outlive the lock); throws like Params::get.
  template <class T>
  T get(std::string_view key) const {
    const std::lock_guard lock(mu_);
    return detail::any_get<T>(values_, key, "shared entry");
  }
  // A copy of `key`'s value, or nullopt when it is unset or not a T.
  template <class T>
  std::optional<T> find(std::string_view key) const {
    const std::lock_guard lock(mu_);
    const auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    const T* v = std::any_cast<T>(&it->second);
    return v ? std::optional<T>(*v) : std::nullopt;
  }
  bool contains(std::string_view key) const {
    const std::lock_guard lock(mu_);
    return values_.find(key) != values_.end();
  }
  bool erase(std::string_view key) {
    const std::lock_guard lock(mu_);
    const auto it = values_.find(key);
    if (it == values_.end()) return false;
    values_.erase(it);
    return true;
  }
  // Calls fn(T&) on `key`'s value under the store's lock, first setting it to T{} if unset;
  // returns what fn returns. fn must not call back into this store.
  template <class T, class Fn>
  decltype(auto) update(std::string_view key, Fn&& fn) {
    const std::lock_guard lock(mu_);
    auto it = values_.find(key);
    if (it == values_.end()) it = values_.emplace(std::string(key), T{}).first;
    T* v = std::any_cast<T>(&it->second);
    if (v == nullptr)
      throw Error(PTL_EINVAL, "shared entry '" + std::string(key) + "' holds another type");
    return std::forward<Fn>(fn)(*v);
  }

 private:
  mutable std::mutex mu_;
  detail::AnyMap values_;
};

// Receives the graph's warnings (an action with no successor ends a flow; a successor is
// overwritten). Called from any thread; must not throw.
using WarningHandler = std::function<void(std::string_view message)>;

namespace detail {

struct WarningSink {
  std::mutex mu;
  WarningHandler handler;
};
inline WarningSink& warning_sink() {
  static WarningSink sink;
  return sink;
}
inline void warn(std::string_view message) noexcept {
  WarningSink& sink = warning_sink();
  const std::lock_guard lock(sink.mu);
  try {
    if (sink.handler)
      sink.handler(message);
    else
      std::fprintf(stderr, "pocketflow-throttled: warning: %.*s\n",
                   static_cast<int>(message.size()), message.data());
  } catch (...) {  // a warning must never turn into a failure
  }
}

}  // namespace detail

// Routes the graph's warnings to `handler` (default, or nullptr: stderr, as PocketFlow's
// warnings.warn). Process-wide.
inline void set_warning_handler(WarningHandler handler) {
  detail::WarningSink& sink = detail::warning_sink();
  const std::lock_guard lock(sink.mu);
  sink.handler = std::move(handler);
}

}  // namespace ptl
