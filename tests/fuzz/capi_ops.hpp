// SPDX-License-Identifier: MIT
// The steps of ptl_fuzz_capi: one C ABI call each, its operands drawn from the input, its
// outcome checked against the contract (ptl.h: each call's semantics and the guarantees) and
// against the harness's model of the registry and of its private limiters.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "capi_model.hpp"

namespace ptl_fuzz {

// Short waits only: a step never blocks for more than a few microseconds.
inline int64_t draw_timeout(Input& in, bool may_wait_forever) {
  static const int64_t kTimeouts[] = {0, 0, 1000, 5000, 20000, -1};
  const uint8_t k = in.u8() % (may_wait_forever ? 6 : 5);
  return kTimeouts[k];
}

inline uint64_t draw_cost(Input& in, const Obj* o) {
  const uint64_t max = o != nullptr ? o->cfg.max_cost_per_window : 0;
  switch (in.u8() % 6) {
    case 0:
      return 0;
    case 1:
      return max;
    case 2:
      return max + 1;
    case 3:
      return UINT64_MAX;
    case 4:
      return in.u64();
    default:
      return 1 + in.u8() % 4;
  }
}

// in_flight of a private limiter equals the permits the harness holds on it, and its
// config is the last one accepted (checked when no asynchronous acquire is pending on it).
inline void check_private(Model& m, Obj* o) {
  if (o == nullptr || !o->priv || o->refs == 0) return;
  if (m.pending_on(o)) return;
  m.adopt();  // after: a callback may complete between the two
  ptl_limiter_stats st{};
  st.struct_size = sizeof st;
  expect("ptl_limiter_stats_get", ptl_limiter_stats_get(o->lim, &st), {PTL_OK});
  require(st.in_flight == m.held_on(o), "ptl_limiter_stats_get", 0,
          "in_flight differs from the permits held");
  require(st.waiting == 0, "ptl_limiter_stats_get", 0, "waiters, but none is pending");
  if (st.total_acquired != o->grants || st.total_timeouts != o->timeouts ||
      st.total_cancelled != o->cancels || st.total_rejected != o->rejects) {
    const std::string what = "totals (acquired, timeouts, cancelled, rejected) are " +
                             std::to_string(st.total_acquired) + ", " +
                             std::to_string(st.total_timeouts) + ", " +
                             std::to_string(st.total_cancelled) + ", " +
                             std::to_string(st.total_rejected) + "; the outcomes seen were " +
                             std::to_string(o->grants) + ", " + std::to_string(o->timeouts) + ", " +
                             std::to_string(o->cancels) + ", " + std::to_string(o->rejects);
    violation("ptl_limiter_stats_get", 0, what.c_str());
  }
  require(o->reconfigured || st.in_flight <= o->cfg.max_concurrent, "ptl_limiter_stats_get", 0,
          "more permits in flight than max_concurrent");
  require(st.config.max_concurrent == o->cfg.max_concurrent &&
              st.config.max_per_window == o->cfg.max_per_window &&
              st.config.max_cost_per_window == o->cfg.max_cost_per_window &&
              st.config.window_seconds == o->cfg.window_seconds,  // finite: it was accepted
          "ptl_limiter_stats_get", 0, "config differs from the one in force");
}

// Fills a stats out-struct whose struct_size is drawn; bytes past it must stay untouched.
template <typename Call>
void stats_call(Input& in, const char* call, std::initializer_list<int> allowed, Call&& fn) {
  static const uint32_t kSizes[] = {
      sizeof(ptl_limiter_stats),     0, 3, 4, offsetof(ptl_limiter_stats, in_flight) + 2,
      sizeof(ptl_limiter_stats) + 24};
  const uint32_t size = kSizes[in.u8() % std::size(kSizes)];
  alignas(ptl_limiter_stats) uint8_t buf[sizeof(ptl_limiter_stats) + 32];
  std::memset(buf, 0xA5, sizeof buf);
  std::memcpy(buf, &size, sizeof size);
  const int rc = expect(call, fn(reinterpret_cast<ptl_limiter_stats*>(buf)), allowed);
  if (size < sizeof(uint32_t)) require(rc != PTL_OK, call, rc, "accepted a struct_size < 4");
  for (size_t i = std::max<size_t>(size, sizeof size); i < sizeof buf; ++i) {
    require(buf[i] == 0xA5, call, rc, "wrote past struct_size");
  }
}

struct ListState {
  Model* m;
  ptl_registry* reg;
  std::vector<std::string> seen;
  size_t stop_after;  // 0: never stop
  bool remove_inside;
};

inline int on_listed(void* user, const char* name, const ptl_limiter_config* cfg) {
  auto* s = static_cast<ListState*>(user);
  require(name != nullptr && cfg != nullptr, "ptl_registry_list", 0, "NULL name or config");
  require(valid_name(name), "ptl_registry_list", 0, "listed an invalid name");
  s->seen.emplace_back(name);
  // The listing may call into the registry.
  if (s->remove_inside) {
    const int rc = expect("ptl_registry_remove (in list)", ptl_registry_remove(s->reg, name),
                          {PTL_OK, PTL_ENOTFOUND});
    if (rc == PTL_OK) {
      s->m->names().erase(name);
      s->m->removed(name);
    }
  } else {
    const int rc = expect("ptl_registry_exists (in list)", ptl_registry_exists(s->reg, name),
                          {0, 1, s->m->backend()});
    require(rc == 1 || s->m->shm(), "ptl_registry_exists", rc, "a listed name is absent");
  }
  return s->stop_after != 0 && s->seen.size() >= s->stop_after ? 1 : 0;
}

inline void step_registry(Input& in, Model& m, ptl_registry* reg, uint8_t op) {
  std::string storage;
  const char* name = draw_name(in, storage);
  const bool name_ok = valid_name(name);
  const bool present = name_ok && m.names().count(name) != 0;
  const bool known = m.names_known();
  const int backend = m.backend();
  Verdict verdict = Verdict::kValid;
  switch (op) {
    case 0: {  // register
      ConfigBuffer b = draw_config(in, &verdict);
      const uint8_t f = in.u8();
      const uint32_t flags = f % 4 == 3 ? in.u32() : f % 2;
      const bool flags_ok = (flags & ~PTL_REPLACE) == 0;
      const int rc = expect("ptl_registry_register",
                            ptl_registry_register(reg, name, f % 8 == 6 ? nullptr : &b.cfg, flags),
                            {PTL_OK, PTL_EINVAL, PTL_EEXIST, backend});
      const bool bad = !name_ok || verdict == Verdict::kInvalid || !flags_ok || f % 8 == 6;
      if (bad) require(rc == PTL_EINVAL, "ptl_registry_register", rc, "accepted bad input");
      if (!bad && verdict == Verdict::kValid && rc != PTL_EBACKEND && known) {
        const int want = present && (flags & PTL_REPLACE) == 0 ? PTL_EEXIST : PTL_OK;
        require(rc == want, "ptl_registry_register", rc, "wrong outcome for this name");
      }
      if (rc == PTL_OK) m.names().insert(name);
      if (rc == PTL_EBACKEND) m.lose_names();
      break;
    }
    case 1:    // get
    case 2: {  // get_or_create
      ConfigBuffer b = op == 2 ? draw_config(in, &verdict) : ConfigBuffer{};
      const uint8_t s = in.u8();
      ptl_limiter* lim = nullptr;
      ptl_limiter** out = s % 16 == 15 ? nullptr : &lim;
      const int rc = op == 1 ? ptl_registry_get(reg, name, out)
                             : ptl_registry_get_or_create(reg, name, &b.cfg, out);
      const char* call = op == 1 ? "ptl_registry_get" : "ptl_registry_get_or_create";
      expect(call, rc, {PTL_OK, PTL_EINVAL, PTL_ENOTFOUND, backend});
      const bool bad = !name_ok || out == nullptr || verdict == Verdict::kInvalid;
      if (bad) require(rc == PTL_EINVAL, call, rc, "accepted bad input");
      if (!bad && verdict == Verdict::kValid && rc != PTL_EBACKEND && known) {
        require(rc == (op == 2 || present ? PTL_OK : PTL_ENOTFOUND), call, rc, "wrong outcome");
      }
      if (rc == PTL_EBACKEND) m.lose_names();
      if (rc == PTL_OK) {
        require(lim != nullptr, call, rc, "OK but no limiter");
        m.names().insert(name);
        m.put(s, lim, false, b.cfg, name);
      }
      break;
    }
    case 3: {  // exists
      const int rc = expect("ptl_registry_exists", ptl_registry_exists(reg, name),
                            {0, 1, PTL_EINVAL, backend});
      if (!name_ok) require(rc == PTL_EINVAL, "ptl_registry_exists", rc, "accepted a bad name");
      if (name_ok && known && rc != PTL_EBACKEND) {
        require(rc == (present ? 1 : 0), "ptl_registry_exists", rc, "disagrees with the model");
      }
      break;
    }
    case 4: {  // remove
      const int rc = expect("ptl_registry_remove", ptl_registry_remove(reg, name),
                            {PTL_OK, PTL_ENOTFOUND, PTL_EINVAL, backend});
      if (!name_ok) require(rc == PTL_EINVAL, "ptl_registry_remove", rc, "accepted a bad name");
      if (name_ok && known && rc != PTL_EBACKEND) {
        require(rc == (present ? PTL_OK : PTL_ENOTFOUND), "ptl_registry_remove", rc,
                "disagrees with the model");
      }
      if (rc == PTL_OK && name_ok) {
        m.names().erase(name);
        m.removed(name);
      }
      break;
    }
    default: {  // stats
      const bool nul = in.u8() % 16 == 15;
      stats_call(in, "ptl_registry_stats", {PTL_OK, PTL_EINVAL, PTL_ENOTFOUND, backend},
                 [&](ptl_limiter_stats* out) {
                   const int rc = ptl_registry_stats(reg, name, nul ? nullptr : out);
                   if (!name_ok || nul) {
                     require(rc == PTL_EINVAL, "ptl_registry_stats", rc, "accepted bad input");
                   }
                   return rc;
                 });
      break;
    }
  }
}

inline void step_list(Input& in, Model& m, ptl_registry* reg) {
  const uint8_t k = in.u8();
  ListState s{&m, reg, {}, static_cast<size_t>(k % 8), (k & 8) != 0};
  const std::vector<std::string> before(m.names().begin(), m.names().end());
  const bool nul = k % 32 == 31;
  const int rc = expect("ptl_registry_list", ptl_registry_list(reg, nul ? nullptr : on_listed, &s),
                        {PTL_OK, PTL_EINVAL, m.backend()});
  require(!nul || rc == PTL_EINVAL, "ptl_registry_list", rc, "accepted a NULL callback");
  if (rc != PTL_OK || !m.names_known()) return;
  std::vector<std::string> want = before;
  if (s.stop_after != 0 && want.size() > s.stop_after) want.resize(s.stop_after);
  require(s.seen == want, "ptl_registry_list", rc, "not the registered names in name order");
}

}  // namespace ptl_fuzz

#include "capi_limiter_ops.hpp"  // step(): the limiter calls and the dispatch
