// SPDX-License-Identifier: MIT
// An observer of policy grants shared between the test and its ptl_shm_policy_worker
// processes (one memfd, CLOCK_MONOTONIC). Every recorded quantity errs on the limiter's
// side, so a limit it shows exceeded was exceeded:
//   - held tokens count up after the acquire returned and down before the release (and
//     before a settle lowers them), never above what the limiter holds;
//   - a grant's true time lies in [t_before, t_after], and a grant is counted in a window
//     only if that whole span lies inside it; its amount is the one it ends with (a
//     settle only lowers it here, and the limiter counted at least that much when it
//     admitted any later grant).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "grant_observer.hpp"

namespace ptl_test {

struct PolicyRecord {
  int64_t t_before;
  int64_t t_after;
  std::atomic<uint64_t> tokens;
};

struct PolicyObserver {
  static constexpr uint64_t kMaxRecords = 1 << 17;

  std::atomic<int64_t> tokens_held;
  std::atomic<int64_t> max_tokens_held;
  std::atomic<uint64_t> count;
  std::atomic<int32_t> ready;     // workers that reached the point the test waits for
  std::atomic<int32_t> failures;  // errors seen by workers (they also print them)
  std::atomic<int32_t> result;    // a worker's answer (a status)
  PolicyRecord records[kMaxRecords];

  static PolicyObserver* map(int fd) {
    void* p = mmap(nullptr, sizeof(PolicyObserver), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? nullptr : static_cast<PolicyObserver*>(p);
  }
  // A new zeroed observer in a memfd that spawned processes inherit; *fd is its number.
  static PolicyObserver* create(int* fd) {
    *fd = memfd_create("ptl-shm-policy-observer", 0);  // no CLOEXEC: the workers inherit it
    if (*fd < 0 || ftruncate(*fd, sizeof(PolicyObserver)) != 0) return nullptr;
    return map(*fd);
  }

  // A grant of `tokens` returned; its record's index (or kMaxRecords if none is left).
  uint64_t on_grant(int64_t t_before, uint64_t tokens) {
    const int64_t t_after = mono_ns();
    const int64_t now =
        tokens_held.fetch_add(static_cast<int64_t>(tokens)) + static_cast<int64_t>(tokens);
    int64_t seen = max_tokens_held.load();
    while (now > seen && !max_tokens_held.compare_exchange_weak(seen, now)) {
    }
    const uint64_t i = count.fetch_add(1);
    if (i >= kMaxRecords) return kMaxRecords;
    records[i].t_before = t_before;
    records[i].t_after = t_after;
    records[i].tokens.store(tokens);
    return i;
  }
  // Before a settle down to `actual` (held: the permit is still held).
  void before_settle(uint64_t i, uint64_t was, uint64_t actual, bool held) {
    if (held) tokens_held.fetch_sub(static_cast<int64_t>(was - actual));
    if (i < kMaxRecords) records[i].tokens.store(actual);
  }
  void before_release(uint64_t held_tokens) {
    tokens_held.fetch_sub(static_cast<int64_t>(held_tokens));
  }

  // The most grants, and the most tokens, provably inside one closed window.
  void proven_in_window(int64_t window_ns, uint64_t* grants, uint64_t* tokens) const {
    struct R {
      int64_t b, a;
      uint64_t t;
    };
    std::vector<R> rs;
    const uint64_t n = std::min<uint64_t>(count.load(), kMaxRecords);
    for (uint64_t i = 0; i < n; ++i) {
      rs.push_back({records[i].t_before, records[i].t_after, records[i].tokens.load()});
    }
    std::sort(rs.begin(), rs.end(), [](const R& x, const R& y) { return x.a < y.a; });
    *grants = *tokens = 0;
    for (size_t j = 0; j < rs.size(); ++j) {
      const int64_t from = rs[j].a - window_ns;
      uint64_t g = 0, t = 0;
      for (size_t i = j + 1; i-- > 0 && rs[i].a >= from;) {
        if (rs[i].b < from) continue;
        ++g;
        t += rs[i].t;
      }
      *grants = std::max(*grants, g);
      *tokens = std::max(*tokens, t);
    }
  }

  // "" when no limit was provably exceeded.
  std::string check(int64_t max_tokens_held_limit, uint64_t max_requests, uint64_t max_tokens,
                    int64_t window_ns) const {
    std::ostringstream err;
    if (max_tokens_held.load() > max_tokens_held_limit) {
      err << "tokens held reached " << max_tokens_held.load() << " > " << max_tokens_held_limit
          << "; ";
    }
    uint64_t g = 0, t = 0;
    proven_in_window(window_ns, &g, &t);
    if (g > max_requests) err << g << " requests inside one window > " << max_requests << "; ";
    if (t > max_tokens) err << t << " tokens inside one window > " << max_tokens << "; ";
    return err.str();
  }
};

}  // namespace ptl_test
