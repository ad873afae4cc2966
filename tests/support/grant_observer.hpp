// SPDX-License-Identifier: MIT
// GrantObserver: an outside witness of a limiter's grants, for invariant tests.
//
// A test thread calls on_grant() right after an acquire returns a permit and
// on_release() right before it gives the permit back. The observer records, per grant,
// the CLOCK_MONOTONIC time before the acquire call and after it returned, the cost,
// the caller's tag and the observed number of permits in flight.
//
// Every recorded quantity errs on the side of the limiter, so a check that fails proves
// a real violation:
//   - the observed in-flight count rises after the true grant and falls before the true
//     release, so it is never above the true in-flight count;
//   - the true grant time lies in [t_before, t_after]; the window checks use t_after
//     (slightly late) and test spans of (window - slack), where slack absorbs the delay
//     between the true grant and t_after.
// Recording order (seq) equals grant order whenever grants are serialized by the
// limiter itself (max_concurrent 1 and the record is taken while the permit is held).
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace ptl_test {

inline int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + static_cast<int64_t>(ts.tv_nsec);
}

struct GrantRecord {
  int64_t t_before = 0;   // before the acquire call: lower bound of the true grant time
  int64_t t_after = 0;    // after the acquire returned: upper bound of the true grant time
  uint64_t cost = 1;      // cost counted in the window (corrected by set_cost)
  int64_t in_flight = 0;  // observed permits in flight right after this grant (<= truth)
  int64_t t_sampled = 0;  // read right after in_flight was sampled (>= sample time)
  int tag = -1;           // the caller's label (thread index, arrival order ...)
  uint64_t seq = 0;       // order in which grants were recorded
};

class GrantObserver {
 public:
  explicit GrantObserver(size_t expected_grants = 1024) { records_.reserve(expected_grants); }

  // Call right after a successful acquire; t_before is mono_ns() taken before the call.
  // Returns an index for on_release / set_cost.
  size_t on_grant(int64_t t_before, uint64_t cost = 1, int tag = -1) {
    const int64_t now = mono_ns();
    const int64_t inflight = in_flight_.fetch_add(1, std::memory_order_acq_rel) + 1;
    int64_t seen = max_in_flight_.load(std::memory_order_relaxed);
    while (inflight > seen &&
           !max_in_flight_.compare_exchange_weak(seen, inflight, std::memory_order_relaxed)) {
    }
    const int64_t sampled = mono_ns();
    std::lock_guard<std::mutex> lock(mu_);
    GrantRecord r;
    r.t_sampled = sampled;
    r.t_before = t_before;
    r.t_after = now;
    r.cost = cost;
    r.in_flight = inflight;
    r.tag = tag;
    r.seq = records_.size();
    records_.push_back(r);
    return records_.size() - 1;
  }

  // Call right before the permit is released.
  void on_release() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }

  // The release corrected the grant's cost (ptl_release_cost).
  void set_cost(size_t idx, uint64_t actual) {
    std::lock_guard<std::mutex> lock(mu_);
    records_.at(idx).cost = actual;
  }

  int64_t in_flight_now() const { return in_flight_.load(std::memory_order_acquire); }
  int64_t max_in_flight() const { return max_in_flight_.load(std::memory_order_acquire); }

  std::vector<GrantRecord> records() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }
  size_t grants() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_.size();
  }

  // Tags in recording order.
  std::vector<int> tags_in_order() const {
    std::vector<int> out;
    for (const auto& r : records()) out.push_back(r.tag);
    return out;
  }

  struct SpanMax {
    uint64_t value = 0;     // the largest count (or cost) found in one span
    int64_t start_ns = 0;   // t_after of the first grant of that span
    int64_t length_ns = 0;  // t_after distance from first to last grant of that span
  };

  // The largest number of grants (by_cost: summed cost) whose t_after lie within a
  // half-open span [t, t + span_ns) for some t.
  SpanMax max_in_span(int64_t span_ns, bool by_cost) const {
    std::vector<GrantRecord> rs = records();
    std::sort(rs.begin(), rs.end(),
              [](const GrantRecord& a, const GrantRecord& b) { return a.t_after < b.t_after; });
    SpanMax best;
    uint64_t sum = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < rs.size(); ++hi) {
      sum += by_cost ? rs[hi].cost : 1;
      while (rs[hi].t_after - rs[lo].t_after >= span_ns) {
        sum -= by_cost ? rs[lo].cost : 1;
        ++lo;
      }
      if (sum > best.value) {
        best.value = sum;
        best.start_ns = rs[lo].t_after;
        best.length_ns = rs[hi].t_after - rs[lo].t_after;
      }
    }
    return best;
  }

  // Grants whose t_after lies in [from_ns, to_ns).
  size_t count_between(int64_t from_ns, int64_t to_ns) const {
    size_t n = 0;
    for (const auto& r : records())
      if (r.t_after >= from_ns && r.t_after < to_ns) ++n;
    return n;
  }

  // Checks every invariant at once; "" when all hold, else a description of each
  // violation. Limits of 0 are not checked. slack_ns shortens the window spans checked.
  std::string check(uint32_t max_concurrent, uint64_t max_per_window, uint64_t max_cost_per_window,
                    int64_t window_ns, int64_t slack_ns) const {
    std::ostringstream err;
    if (max_concurrent != 0 && max_in_flight() > static_cast<int64_t>(max_concurrent))
      err << "in flight reached " << max_in_flight() << " > max_concurrent " << max_concurrent
          << "; ";
    const int64_t span = window_ns - slack_ns;
    if (max_per_window != 0 && span > 0) {
      SpanMax m = max_in_span(span, false);
      if (m.value > max_per_window)
        err << m.value << " grants within " << m.length_ns << " ns (< window " << window_ns
            << " ns - slack " << slack_ns << " ns) > max_per_window " << max_per_window << "; ";
    }
    if (max_cost_per_window != 0 && span > 0) {
      SpanMax m = max_in_span(span, true);
      if (m.value > max_cost_per_window)
        err << "cost " << m.value << " granted within " << m.length_ns << " ns (< window "
            << window_ns << " ns - slack " << slack_ns << " ns) > max_cost_per_window "
            << max_cost_per_window << "; ";
    }
    return err.str();
  }

  // "" if the tags, in recording order, equal `expected`.
  std::string check_order(const std::vector<int>& expected) const {
    std::vector<int> got = tags_in_order();
    if (got == expected) return "";
    std::ostringstream err;
    err << "grant order {";
    for (int t : got) err << ' ' << t;
    err << " } != expected {";
    for (int t : expected) err << ' ' << t;
    err << " }";
    return err.str();
  }

 private:
  mutable std::mutex mu_;
  std::vector<GrantRecord> records_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> max_in_flight_{0};
};

}  // namespace ptl_test
