// SPDX-License-Identifier: MIT
// Helper shared by the async suites: one ptl_acquire_async request and its outcome.
#pragma once

#include "capi_util.hpp"

namespace ptl_test {

// One async request: counts callbacks and remembers the outcome.
struct Req {
  std::atomic<int> calls{0};
  std::atomic<int> status{1};
  std::atomic<ptl_permit> permit{0};
  std::atomic<int64_t> t_cb{0};  // limiter_now() time
  std::thread::id cb_thread;
  std::atomic<bool> returned{false};  // set by the test right after ptl_acquire_async
  std::atomic<bool> ran_before_return{false};

  static void cb(void* u, int status, ptl_permit p) {
    auto* r = static_cast<Req*>(u);
    r->t_cb = limiter_now();
    r->cb_thread = std::this_thread::get_id();
    r->status = status;
    r->permit = p;
    if (!r->returned) r->ran_before_return = true;
    r->calls.fetch_add(1);
  }
  int start(ptl_limiter* lim, uint64_t cost, int64_t timeout, uint64_t* ticket) {
    int rc = ptl_acquire_async(lim, cost, timeout, &Req::cb, this, ticket);
    returned = true;
    return rc;
  }
  bool wait(int64_t timeout_ns = 10 * kSec) {
    return wait_until([this] { return calls.load() > 0; }, timeout_ns);
  }
};

}  // namespace ptl_test
