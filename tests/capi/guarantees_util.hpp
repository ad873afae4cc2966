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

// One acquire of cost 1 by a mix of the ways users acquire; returns the permit or 0.
// Async grants are waited for by spinning on a flag (the callback runs elsewhere).
inline ptl_permit acquire_some_way(ptl_limiter* lim, std::mt19937& rng, int64_t* t_before) {
  *t_before = mono_ns();
  ptl_permit p = 0;
  switch (rng() % 5) {
    case 0:
    case 1:
      return ptl_acquire(lim, -1, &p) == PTL_OK ? p : 0;
    case 2:
      return ptl_acquire(lim, static_cast<int64_t>(rng() % 2000000), &p) == PTL_OK ? p : 0;
    case 3:
      return ptl_try_acquire(lim, &p, nullptr) == PTL_OK ? p : 0;
    default: {
      struct Slot {
        std::atomic<int> status{1};
        std::atomic<ptl_permit> permit{0};
      };
      auto slot = std::make_shared<Slot>();
      auto* keep = new std::shared_ptr<Slot>(slot);
      int rc = ptl_acquire_async(
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
        ADD_FAILURE() << "ptl_acquire_async: " << ptl_status_name(rc);
        return 0;
      }
      while (slot->status.load() == 1) std::this_thread::yield();
      return slot->status.load() == PTL_OK ? slot->permit.load() : 0;
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
