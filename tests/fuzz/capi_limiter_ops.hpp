// SPDX-License-Identifier: MIT
// The limiter steps of ptl_fuzz_capi (create, stats, reconfigure, acquire in every form,
// release of held, released and forged permits, async acquire and cancel, penalize,
// references) and step(), which dispatches on the opcode. Included by capi_ops.hpp.
#pragma once

#include "capi_ops.hpp"

namespace ptl_fuzz {

inline void after_grant(Model& m, Obj* o, int rc, ptl_permit p, int64_t timeout, const char* call,
                        int64_t started) {
  if (rc == PTL_OK) m.add_permit(o, p, call);
  Model::count(o, rc, started, now_ns());
  // Timeout 0 tries once (PTL_EAGAIN); a positive one ends in PTL_ETIMEDOUT.
  if (rc == PTL_EAGAIN || rc == PTL_ETIMEDOUT) {
    require((rc == PTL_EAGAIN) == (timeout == 0), call, rc, "EAGAIN/ETIMEDOUT mixed up");
  }
}

inline void step_acquire(Input& in, Model& m, uint8_t op) {
  const uint8_t s = in.u8();
  Obj* o = m.slot(s);
  ptl_limiter* lim = o != nullptr ? o->lim : nullptr;
  const int backend = m.backend(o);
  const bool nul = s % 32 == 31;
  ptl_permit p = 0;
  ptl_permit* out = nul ? nullptr : &p;
  int rc = 0;
  if (op == 0) {
    const int64_t t = draw_timeout(in, false);
    const int64_t started = now_ns();
    rc = expect("ptl_acquire", ptl_acquire(lim, t, out),
                {PTL_OK, PTL_EAGAIN, PTL_ETIMEDOUT, PTL_EINVAL, backend, m.closed(o)});
    after_grant(m, o, rc, p, t, "ptl_acquire", started);
  } else if (op == 1) {
    int64_t retry = -7;
    const bool with_retry = (s & 64) != 0;
    const int64_t started = now_ns();
    rc = expect("ptl_try_acquire", ptl_try_acquire(lim, out, with_retry ? &retry : nullptr),
                {PTL_OK, PTL_EAGAIN, PTL_EINVAL, backend, m.closed(o)});
    after_grant(m, o, rc, p, 0, "ptl_try_acquire", started);
    if (rc == PTL_EAGAIN && with_retry) {
      require(retry >= -1, "ptl_try_acquire", rc, "retry_after_ns below -1");
    }
  } else {
    const uint64_t cost = draw_cost(in, o);
    const int64_t t = draw_timeout(in, false);
    const int64_t started = now_ns();
    rc = expect("ptl_acquire_cost", ptl_acquire_cost(lim, cost, t, out),
                {PTL_OK, PTL_EAGAIN, PTL_ETIMEDOUT, PTL_EINVAL, backend, m.closed(o)});
    after_grant(m, o, rc, p, t, "ptl_acquire_cost", started);
    if (o != nullptr && o->priv && !nul) {
      const uint64_t max = o->cfg.max_cost_per_window;
      require((rc == PTL_EINVAL) == (max != 0 && cost > max), "ptl_acquire_cost", rc,
              "a cost above max_cost_per_window is EINVAL, and only that");
    }
  }
  if (lim == nullptr || nul) require(rc == PTL_EINVAL, "acquire", rc, "accepted a NULL");
  if (op != 2 && rc == PTL_EINVAL) require(lim == nullptr || nul, "acquire", rc, "EINVAL");
  check_private(m, o);
}

// Releases a held permit (first time: PTL_OK; again: PTL_EINVAL), a forged one, or one
// of another limiter.
inline void step_release(Input& in, Model& m) {
  const uint8_t k = in.u8();
  const bool with_cost = (k & 1) != 0;
  const uint64_t cost = with_cost ? draw_cost(in, nullptr) : 0;
  auto call = [&](ptl_limiter* lim, ptl_permit p) {
    return with_cost ? ptl_release_cost(lim, p, cost) : ptl_release(lim, p);
  };
  const char* name = with_cost ? "ptl_release_cost" : "ptl_release";
  m.adopt();
  std::vector<Held>& held = m.held();
  if ((k & 6) != 6 && !held.empty()) {
    Held& h = held[in.u8() % held.size()];
    if (h.obj->refs == 0) return;
    const int rc = expect(name, call(h.obj->lim, h.permit), {PTL_OK, PTL_EINVAL, m.closed(h.obj)});
    require(rc == (h.released ? PTL_EINVAL : PTL_OK) || rc == m.closed(h.obj), name, rc,
            h.released ? "a second release was not EINVAL" : "a held permit was refused");
    h.released = true;
    check_private(m, h.obj);
    return;
  }
  Obj* o = m.slot(in.u8());
  if (o == nullptr || m.pending_on(o)) return;  // a grant may be landing: no forging now
  m.adopt();                                    // what completed since the last look
  ptl_permit p = 0;
  switch (in.u8() % 3) {
    case 0:
      p = in.u64();
      break;
    case 1:  // another limiter's
      if (!held.empty()) p = held[in.u8() % held.size()].permit;
      break;
    default:
      break;
  }
  Held* mine = nullptr;
  bool shared = false;  // a permit of another handle of the same (shm) limiter
  for (Held& h : held) {
    if (h.permit != p || h.released) continue;
    if (h.obj == o) mine = &h;
    // The same limiter through a handle dropped since, or another handle of a shm://
    // limiter of the same name: a release may then succeed.
    shared = shared || h.obj->lim == o->lim || (m.shm() && !o->priv && !h.obj->priv);
  }
  const int rc = expect(name, call(o->lim, p), {PTL_OK, PTL_EINVAL, m.closed(o)});
  if (mine != nullptr) {
    require(rc == PTL_OK || rc == m.closed(o), name, rc, "a held permit was refused");
    mine->released = true;
  } else if (rc == PTL_OK) {
    require(shared, name, rc, "released a permit the limiter never granted");
    for (Held& h : held) h.released = h.released || h.permit == p;
  }
  check_private(m, o);
}

inline void step_async(Input& in, Model& m) {
  const uint8_t s = in.u8();
  Obj* o = m.slot(s);
  const uint64_t cost = (s & 32) != 0 ? draw_cost(in, o) : 1;
  const int64_t t = draw_timeout(in, true);
  AsyncRecord* r = m.new_record(o);
  uint64_t ticket = 0;
  const bool nul_fn = s % 32 == 31;
  const int rc = expect(
      "ptl_acquire_async",
      ptl_acquire_async(o != nullptr ? o->lim : nullptr, cost, t, nul_fn ? nullptr : on_acquired, r,
                        (s & 64) != 0 ? nullptr : &ticket),
      {PTL_OK, PTL_EINVAL, m.backend(o), m.closed(o)});
  r->ticket = ticket;
  r->call_failed = rc != PTL_OK;
  if (o == nullptr || nul_fn) require(rc == PTL_EINVAL, "ptl_acquire_async", rc, "NULL taken");
  if (rc != PTL_OK) {
    require(r->calls.load() == 0, "ptl_acquire_async", rc, "failed, yet the callback ran");
  }
  check_private(m, o);
}

inline void step_cancel(Input& in, Model& m) {
  const uint8_t k = in.u8();
  Obj* o = m.slot(k);
  uint64_t ticket = 0;
  AsyncRecord* r = nullptr;
  if ((k & 8) != 0 && !m.records().empty()) {
    r = m.records()[in.u8() % m.records().size()].get();
    ticket = r->ticket;
  } else if ((k & 16) != 0) {
    ticket = in.u64();  // tickets are small and sequential: it may be a real one
    for (auto& rec : m.records()) {
      if (ticket != 0 && rec->ticket == ticket && !rec->call_failed) r = rec.get();
    }
  }
  const int rc = expect("ptl_cancel", ptl_cancel(o != nullptr ? o->lim : nullptr, ticket),
                        {PTL_OK, PTL_ENOTFOUND, PTL_EINVAL, m.closed(o)});
  if (o == nullptr) require(rc == PTL_EINVAL, "ptl_cancel", rc, "accepted a NULL limiter");
  if (rc == PTL_OK) {
    require(r != nullptr && ticket != 0, "ptl_cancel", rc, "cancelled an unknown ticket");
    require(r->obj->lim == o->lim || (m.shm() && !r->obj->priv && !o->priv), "ptl_cancel", rc,
            "cancelled another limiter's ticket");
    require(r->calls.load() == 1 && r->status.load() == PTL_ECANCELED, "ptl_cancel", rc,
            "cancelled, but the callback did not run with PTL_ECANCELED first");
  }
  check_private(m, o);
}

inline void step_limiter(Input& in, Model& m, uint8_t op) {
  const uint8_t s = in.u8();
  Obj* o = m.slot(s);
  ptl_limiter* lim = o != nullptr ? o->lim : nullptr;
  Verdict verdict = Verdict::kValid;
  switch (op) {
    case 0: {  // create a private limiter
      ConfigBuffer b = draw_config(in, &verdict);
      ptl_limiter* made = nullptr;
      const int rc =
          expect("ptl_limiter_create", ptl_limiter_create(&b.cfg, &made), {PTL_OK, PTL_EINVAL});
      if (verdict != Verdict::kEither) {
        require(rc == (verdict == Verdict::kValid ? PTL_OK : PTL_EINVAL), "ptl_limiter_create", rc,
                "config verdict differs");
      }
      if (rc == PTL_OK) {
        b.cfg.struct_size = sizeof b.cfg;
        m.put(s, made, true, b.cfg, "");
        check_private(m, m.slot(s));
      }
      break;
    }
    case 1: {  // reconfigure
      ConfigBuffer b = draw_config(in, &verdict);
      const int rc = expect("ptl_limiter_reconfigure", ptl_limiter_reconfigure(lim, &b.cfg),
                            {PTL_OK, PTL_EINVAL, m.backend(o), m.closed(o)});
      if (lim == nullptr || verdict == Verdict::kInvalid) {
        require(rc == PTL_EINVAL, "ptl_limiter_reconfigure", rc, "accepted bad input");
      }
      if (rc == PTL_OK && o->priv) {
        o->cfg = b.cfg;
        o->reconfigured = true;
      }
      check_private(m, o);
      break;
    }
    case 2: {  // penalize
      static const int64_t kPenalties[] = {0, 1, 1000, 20000, 1000000, -1, INT64_MIN, INT64_MAX};
      const int64_t v = kPenalties[in.u8() % std::size(kPenalties)];
      const int rc = expect("ptl_limiter_penalize", ptl_limiter_penalize(lim, v),
                            {PTL_OK, PTL_EINVAL, m.backend(o), m.closed(o)});
      require(rc == m.closed(o) || (rc == PTL_EINVAL) == (lim == nullptr || v < 0),
              "ptl_limiter_penalize", rc,
              "EINVAL for a NULL limiter or a negative time, and only then");
      check_private(m, o);
      break;
    }
    case 3:  // stats
      stats_call(in, "ptl_limiter_stats_get", {PTL_OK, PTL_EINVAL, m.backend(o), m.closed(o)},
                 [&](ptl_limiter_stats* out) { return ptl_limiter_stats_get(lim, out); });
      check_private(m, o);
      break;
    case 4:  // drop a reference
      m.drop(s);
      break;
    default:  // another reference to the same limiter, in another slot
      if (o != nullptr && o->refs > 0) {
        ptl_limiter_ref(lim);
        m.dup(o, in.u8());
      }
      break;
  }
}

// Logging on (into a callback that checks what it gets) or off, or a bad level.
inline void on_log(void* /*user*/, int level, const char* msg) {
  require(msg != nullptr && level >= PTL_LOG_TRACE && level < PTL_LOG_OFF, "log callback", level,
          "a NULL message or a bad level");
}

inline void step_log(Input& in) {
  const int level = static_cast<int>(in.u8() % 10) - 2;  // -2 .. 7
  const int rc = expect("ptl_log_set_level", ptl_log_set_level(level), {PTL_OK, PTL_EINVAL});
  require((rc == PTL_OK) == (level >= PTL_LOG_TRACE && level <= PTL_LOG_OFF), "ptl_log_set_level",
          rc, "levels 0..6 are taken, others refused");
}

// One step: an opcode, then its operands.
inline void step(Input& in, Model& m, ptl_registry* reg) {
  const uint8_t op = in.u8() % 22;
  if (g_trace) std::fprintf(stderr, "step %d\n", op);
  if (op < 6) {
    step_registry(in, m, reg, op);  // register, get, get_or_create, exists, remove, stats
  } else if (op == 6) {
    step_list(in, m, reg);
  } else if (op == 7) {
    const int rc = expect("ptl_registry_reset", ptl_registry_reset(reg), {PTL_OK, m.backend()});
    m.names().clear();
    m.removed(nullptr);
    if (rc != PTL_OK) m.lose_names();
  } else if (op < 11) {
    step_acquire(in, m, static_cast<uint8_t>(op - 8));
  } else if (op < 13) {
    step_release(in, m);
  } else if (op == 13) {
    step_async(in, m);
  } else if (op == 14) {
    step_cancel(in, m);
  } else if (op < 21) {
    step_limiter(in, m, static_cast<uint8_t>(op - 15));
  } else {
    step_log(in);
  }
  m.adopt();
}

}  // namespace ptl_fuzz
