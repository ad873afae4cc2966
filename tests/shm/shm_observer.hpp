// SPDX-License-Identifier: MIT
// A grant observer shared between processes: the parent test and its ptl_shm_worker
// processes map one memfd and log every grant into it, on CLOCK_MONOTONIC (one clock
// for every process of the host). The same recording rules as tests/support's
// GrantObserver, so every recorded quantity errs on the side of the limiter:
//   - in_flight counts up after the acquire returned and down before the release, so it
//     is never above the true number of permits held;
//   - a grant's true time lies in [t_before, t_after]; spans are checked on t_after.
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

struct SharedRecord {
  int64_t t_before;
  int64_t t_after;
  int64_t in_flight;
  int32_t tag;
  int32_t pid;
};

struct SharedObserver {
  static constexpr uint64_t kMaxRecords = 1 << 18;

  std::atomic<int64_t> in_flight;
  std::atomic<int64_t> max_in_flight;
  std::atomic<uint64_t> count;
  std::atomic<int32_t> ready;     // workers that reached the point the test waits for
  std::atomic<int32_t> go;        // set by the test to let workers go on
  std::atomic<int32_t> failures;  // errors seen by workers (they also print them)
  SharedRecord records[kMaxRecords];

  // Maps the observer from fd (created by create()).
  static SharedObserver* map(int fd) {
    void* p = mmap(nullptr, sizeof(SharedObserver), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? nullptr : static_cast<SharedObserver*>(p);
  }
  // A new zeroed observer in a memfd that spawned processes inherit; *fd is its number.
  static SharedObserver* create(int* fd) {
    *fd = memfd_create("ptl-shm-observer", 0);  // no CLOEXEC: the workers inherit it
    if (*fd < 0 || ftruncate(*fd, sizeof(SharedObserver)) != 0) return nullptr;
    return map(*fd);
  }

  void on_grant(int64_t t_before, int tag) {
    const int64_t t_after = mono_ns();
    const int64_t now = in_flight.fetch_add(1) + 1;
    int64_t seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    const uint64_t i = count.fetch_add(1);
    if (i < kMaxRecords) {
      records[i] = {t_before, t_after, now, static_cast<int32_t>(tag),
                    static_cast<int32_t>(getpid())};
    }
  }
  void on_release() { in_flight.fetch_sub(1); }

  std::vector<SharedRecord> snapshot() const {
    const uint64_t n = std::min<uint64_t>(count.load(), kMaxRecords);
    std::vector<SharedRecord> out;
    out.reserve(n);
    for (uint64_t i = 0; i < n; ++i) out.push_back(records[i]);
    return out;
  }

  // The largest number of grants whose t_after lie within [t, t + span) for some t.
  size_t max_in_span(int64_t span_ns) const {
    std::vector<int64_t> ts;
    for (const SharedRecord& r : snapshot()) ts.push_back(r.t_after);
    std::sort(ts.begin(), ts.end());
    size_t best = 0, lo = 0;
    for (size_t hi = 0; hi < ts.size(); ++hi) {
      while (ts[hi] - ts[lo] >= span_ns) ++lo;
      best = std::max(best, hi - lo + 1);
    }
    return best;
  }

  // The most grants provably inside one closed window of window_ns: grants whose whole
  // [t_before, t_after] lies in [t - window_ns, t] for some t. No slack needed, no false
  // alarm possible: a count above max_per_window is a real violation.
  size_t proven_max_in_window(int64_t window_ns) const {
    std::vector<SharedRecord> rs = snapshot();
    std::sort(rs.begin(), rs.end(),
              [](const SharedRecord& a, const SharedRecord& b) { return a.t_after < b.t_after; });
    size_t best = 0;
    for (size_t j = 0; j < rs.size(); ++j) {
      const int64_t from = rs[j].t_after - window_ns;
      size_t n = 0;
      for (size_t i = j + 1; i-- > 0 && rs[i].t_after >= from;) {
        if (rs[i].t_before >= from) ++n;
      }
      best = std::max(best, n);
    }
    return best;
  }

  // "" when max_concurrent and max_per_window (per window_ns - slack_ns) held.
  std::string check(int64_t max_concurrent, size_t max_per_window, int64_t window_ns,
                    int64_t slack_ns) const {
    std::ostringstream err;
    if (max_in_flight.load() > max_concurrent) {
      err << "in flight reached " << max_in_flight.load() << " > " << max_concurrent << "; ";
    }
    if (max_per_window != 0) {
      const size_t m = max_in_span(window_ns - slack_ns);
      if (m > max_per_window) {
        err << m << " grants within " << (window_ns - slack_ns) << " ns > max_per_window "
            << max_per_window << "; ";
      }
      const size_t proven = proven_max_in_window(window_ns);
      if (proven > max_per_window) {
        err << proven << " grants provably inside one window > max_per_window " << max_per_window
            << "; ";
      }
    }
    return err.str();
  }
};

}  // namespace ptl_test
