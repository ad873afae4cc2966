// SPDX-License-Identifier: MIT
// Helpers shared by the guarantee suites: thread hammers, random work, mixed acquires.
#pragma once

#include <random>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {

// Slack between a true grant and the observer's t_after, used when checking window
// spans: a thread woken by a grant may be preempted before it reads the clock. A
// fixed-bucket or approximate limiter overshoots by far more than this (see
// BoundaryBurstStaysInsideTheWindow for a check that needs no slack at all).
constexpr int64_t kSlack = 15 * kMs;  // generous: sanitizer builds on 2 busy cores

// Runs body(thread_index, rng) in n threads until `deadline` (mono ns).
// Threads that are still blocked 60 s after the deadline (a lost wake-up) end the
// process with a message instead of hanging the suite.
template <typename Body>
void hammer(int n, int64_t run_ns, Body body) {
  run_or_die(
      "hammer threads",
      [&] {
        const int64_t deadline = mono_ns() + run_ns;
        std::vector<std::thread> ts;
        for (int i = 0; i < n; ++i)
          ts.emplace_back([&, i] {
            std::mt19937 rng(static_cast<uint32_t>(1234 + i));
            while (mono_ns() < deadline) body(i, rng);
          });
        for (auto& t : ts) t.join();
      },
      run_ns + 60 * kSec);
}

inline void short_work(std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:
      break;
    case 1:
      std::this_thread::yield();
      break;
    case 2:
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      break;
    default: {
      const int64_t until = mono_ns() + static_cast<int64_t>(rng() % 20000);
      while (mono_ns() < until) {
      }
    }
  }
}

// p if the acquire that answered rc granted it; 0 if it was refused the way a busy limiter
// refuses (PTL_EAGAIN, PTL_ETIMEDOUT). Any other status fails the test: an acquire that
// waits forever, say, must never fail.
inline ptl_permit granted(int rc, ptl_permit p, const char* what, bool may_be_refused = true) {
  if (rc == PTL_OK) return p;
  if (may_be_refused && (rc == PTL_EAGAIN || rc == PTL_ETIMEDOUT)) return 0;
  ADD_FAILURE() << what << ": " << ptl_status_name(rc) << ": " << ptl_last_error();
  return 0;
}

// One acquire of cost 1 by a mix of the ways users acquire; returns the permit or 0.
// Async grants are waited for by spinning on a flag (the callback runs elsewhere).
inline ptl_permit acquire_some_way(ptl_limiter* lim, std::mt19937& rng, int64_t* t_before) {
  *t_before = mono_ns();
  ptl_permit p = 0;
  int rc = PTL_OK;
  switch (rng() % 5) {
    case 0:
    case 1:
      rc = ptl_acquire(lim, -1, &p);
      return granted(rc, p, "ptl_acquire(forever)", false);
    case 2:
      rc = ptl_acquire(lim, static_cast<int64_t>(rng() % 2000000), &p);
      return granted(rc, p, "ptl_acquire");
    case 3:
      rc = ptl_try_acquire(lim, &p, nullptr);
      return granted(rc, p, "ptl_try_acquire");
    default: {
      struct Slot {
        std::atomic<int> status{1};
        std::atomic<ptl_permit> permit{0};
      };
      auto slot = std::make_shared<Slot>();
      auto* keep = new std::shared_ptr<Slot>(slot);
      rc = ptl_acquire_async(
          lim, 1, static_cast<int64_t>(rng() % 3000000),
          [](void* u, int status, ptl_permit permit) {
            auto* k = static_cast<std::shared_ptr<Slot>*>(u);
            (*k)->permit = permit;
            (*k)->status = status;
            delete k;
          },
          keep, nullptr);
      if (rc != PTL_OK) {
        delete keep;
        return granted(rc, 0, "ptl_acquire_async", false);
      }
      while (slot->status.load() == 1) std::this_thread::yield();
      return granted(slot->status.load(), slot->permit.load(), "ptl_acquire_async callback");
    }
  }
}

// One observed call: acquire some way, report the grant to obs, work briefly, report the
// release and release. Returns the release's status (PTL_OK when nothing was granted).
inline int observed_call(ptl_limiter* lim, GrantObserver& obs, std::mt19937& rng) {
  int64_t t0 = 0;
  const ptl_permit p = acquire_some_way(lim, rng, &t0);
  if (!p) return PTL_OK;
  obs.on_grant(t0);
  short_work(rng);
  obs.on_release();
  return ptl_release(lim, p);
}

}  // namespace ptl_test
