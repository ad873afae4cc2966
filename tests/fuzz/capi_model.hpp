// SPDX-License-Identifier: MIT
// The harness's bookkeeping for ptl_fuzz_capi: the limiter handles it holds, the permits
// it holds, and one record per asynchronous acquire (whose callback may run on a library
// thread). Everything here is owned by one input and dropped at its end.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_util.hpp"

namespace ptl_fuzz {

// One limiter object the harness has references to. Handles of the same object (two
// gets of one name on local:, or a ptl_limiter_ref) share one Obj.
struct Obj {
  ptl_limiter* lim = nullptr;
  bool priv = false;         // from ptl_limiter_create: the harness knows everything about it
  ptl_limiter_config cfg{};  // private only: the config in force
  int refs = 0;              // references the harness holds; 0: unusable
  std::string name;          // registry limiters only
  bool removed = false;      // its name was removed (or reset) since it was got
  // Private only: outcomes counted by the harness, against the limiter's statistics, and
  // when each grant happened (between a call's start and its return or callback).
  bool reconfigured = false;
  uint64_t grants = 0, timeouts = 0, cancels = 0, rejects = 0;
  std::vector<std::pair<int64_t, int64_t>> grant_times;
};

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Held {
  Obj* obj;
  ptl_permit permit;
  bool released = false;
};

struct AsyncRecord {
  std::atomic<int> calls{0};
  std::atomic<int> status{1};
  std::atomic<uint64_t> permit{0};
  std::atomic<int64_t> done_ns{0};
  int64_t start_ns = now_ns();
  Obj* obj = nullptr;   // main thread only from here on
  uint64_t ticket = 0;  // 0: not asked for
  bool call_failed = false;
  bool adopted = false;
  bool shm = false;
};

inline void on_acquired(void* user, int status, ptl_permit permit) {
  auto* r = static_cast<AsyncRecord*>(user);
  r->status.store(status);
  r->permit.store(permit);
  r->done_ns.store(now_ns());

  // Documented outcomes of an acquire, and those of a waiter a reconfigure made too
  // expensive (PTL_EINVAL) or whose limiter went away (PTL_ECLOSED).
  const bool known = status == PTL_OK || status == PTL_EAGAIN || status == PTL_ETIMEDOUT ||
                     status == PTL_ECANCELED || status == PTL_ECLOSED || status == PTL_EINVAL ||
                     status == PTL_ENOMEM || (r->shm && status == PTL_EBACKEND);
  if (!known) violation("ptl_acquire_async callback", status, "undocumented status");
  if ((status == PTL_OK) != (permit != 0)) {
    violation("ptl_acquire_async callback", status, "a grant without a permit or vice versa");
  }
  if (r->calls.fetch_add(1) != 0) violation("ptl_acquire_async callback", status, "ran twice");
}

class Model {
 public:
  static constexpr size_t kSlots = 6;

  explicit Model(bool shm) : shm_(shm) {}
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  bool shm() const { return shm_; }
  std::set<std::string>& names() { return names_; }
  // False once a shm:// call failed with PTL_EBACKEND: the name set is no longer known.
  bool names_known() const { return names_known_; }
  void lose_names() { names_known_ = false; }

  Obj* slot(size_t i) const { return slots_[i % kSlots]; }

  // Marks the registry limiters of `name` (nullptr: all) as removed.
  void removed(const char* name) {
    for (auto& p : objs_) p->removed = p->removed || (!p->priv && (!name || p->name == name));
  }
  // shm:// closes every handle of a removed limiter (ADR 8): its calls may then answer
  // PTL_ECLOSED, which is otherwise no outcome of a limiter call.
  int closed(const Obj* o) const {
    return shm_ && o != nullptr && !o->priv && o->removed ? PTL_ECLOSED : kNoStatus;
  }
  // shm:// may fail (a full segment) in registry calls and on its limiters.
  int backend() const { return shm_ ? PTL_EBACKEND : kNoStatus; }
  int backend(const Obj* o) const { return o != nullptr && !o->priv ? backend() : kNoStatus; }
  ptl_limiter* lim(size_t i) const { return slot(i) != nullptr ? slot(i)->lim : nullptr; }

  // Takes over one reference to lim into slot i (dropping what the slot held).
  void put(size_t i, ptl_limiter* lim, bool priv, const ptl_limiter_config& cfg,
           const std::string& name) {
    Obj* o = nullptr;
    for (auto& p : objs_) {
      if (p->refs > 0 && p->lim == lim && !p->removed) o = p.get();
    }
    if (o == nullptr) {
      objs_.push_back(std::make_unique<Obj>());
      o = objs_.back().get();
      o->lim = lim;
      o->priv = priv;
      o->cfg = cfg;
      o->name = name;
    }
    if (o->priv != priv) violation("registry get", 0, "a private limiter came out of a registry");
    ++o->refs;
    drop(i);  // after: the slot may hold this very object
    slots_[i % kSlots] = o;
  }

  // Another reference to o (the caller took it) into slot i.
  void dup(Obj* o, size_t i) {
    ++o->refs;
    drop(i);
    slots_[i % kSlots] = o;
  }

  // Unreferences slot i's handle. The object's permits and waiters are out of reach
  // once the harness holds no reference (its waiters still must complete).
  void drop(size_t i) {
    Obj* o = slots_[i % kSlots];
    if (o == nullptr) return;
    slots_[i % kSlots] = nullptr;
    --o->refs;
    ptl_limiter_unref(o->lim);
  }

  void drop_all() {
    for (size_t i = 0; i < kSlots; ++i) drop(i);
  }

  std::vector<Held>& held() { return held_; }

  size_t held_on(const Obj* o) const {
    size_t n = 0;
    for (const Held& h : held_) n += h.obj == o && !h.released ? 1 : 0;
    return n;
  }

  // A new permit must be non-zero and unlike every permit held now (of any limiter).
  void add_permit(Obj* o, ptl_permit p, const char* call) {
    if (p == 0) violation(call, PTL_OK, "granted permit 0");
    for (const Held& h : held_) {
      if (!h.released && h.permit == p) violation(call, PTL_OK, "granted a permit held already");
    }
    held_.push_back(Held{o, p});
  }

  AsyncRecord* new_record(Obj* o) {
    records_.push_back(std::make_unique<AsyncRecord>());
    AsyncRecord* r = records_.back().get();
    r->obj = o;
    r->shm = shm_;
    return r;
  }
  std::vector<std::unique_ptr<AsyncRecord>>& records() { return records_; }

  bool pending_on(const Obj* o) const {
    for (const auto& r : records_) {
      if (r->obj == o && !r->call_failed && r->calls.load() == 0) return true;
    }
    return false;
  }

  // Moves the permits of completed asynchronous grants into held().
  void adopt() {
    for (auto& r : records_) {
      if (r->adopted || r->call_failed || r->calls.load() == 0) continue;
      r->adopted = true;
      const int st = r->status.load();
      if (g_trace)
        std::fprintf(stderr, "async %p -> %s\n", static_cast<void*>(r.get()), ptl_status_name(st));
      if (st == PTL_OK) add_permit(r->obj, r->permit.load(), "ptl_acquire_async");
      count(r->obj, st, r->start_ns, r->done_ns.load());
    }
  }

  // Counts an acquire's outcome on a private limiter (t0..t1: when it was granted).
  static void count(Obj* o, int status, int64_t t0, int64_t t1) {
    if (o == nullptr || !o->priv) return;
    o->grants += status == PTL_OK ? 1 : 0;
    o->timeouts += status == PTL_ETIMEDOUT ? 1 : 0;
    o->cancels += status == PTL_ECANCELED ? 1 : 0;
    o->rejects += status == PTL_EAGAIN ? 1 : 0;
    if (status == PTL_OK) o->grant_times.emplace_back(t0, t1);
  }

  // Never over quota: no max_per_window + 1 grants of a private limiter (not
  // reconfigured) fall surely within one window, i.e. within [t, t + window).
  void check_windows() const {
    for (const auto& o : objs_) {
      if (!o->priv || o->reconfigured || o->cfg.max_per_window == 0) continue;
      if (o->grant_times.size() <= o->cfg.max_per_window) continue;
      const auto w = static_cast<int64_t>(std::llround(o->cfg.window_seconds * 1e9));
      std::vector<std::pair<int64_t, int64_t>> g = o->grant_times;
      std::sort(g.begin(), g.end());
      for (size_t i = 0; i < g.size(); ++i) {
        uint64_t within = 0;
        for (size_t k = i; k < g.size() && g[k].first < g[i].first + w; ++k) {
          within += g[k].second < g[i].first + w ? 1 : 0;
        }
        require(within <= o->cfg.max_per_window, "acquire", 0,
                "more grants within one window than max_per_window");
      }
    }
  }

 private:
  bool shm_;
  bool names_known_ = true;
  std::set<std::string> names_;
  Obj* slots_[kSlots] = {};
  std::vector<std::unique_ptr<Obj>> objs_;
  std::vector<Held> held_;
  std::vector<std::unique_ptr<AsyncRecord>> records_;
};

}  // namespace ptl_fuzz
