// SPDX-License-Identifier: MIT
// --adaptive: the client meets an API whose limit it does not know. The mock API accepts
// at most `hidden_limit` calls in flight and answers 429 with a Retry-After to any call
// over it; the client runs one adaptive batch (ptl_batch_run with ptl_batch_options.adaptive)
// under the registered "openai" limiter, and every attempt is recorded so the report can
// show the batch's concurrency settling under the hidden limit.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "svg_timeline.hpp"

namespace demo {

// Nominal figures are real time; the run divides every duration by time_scale.
struct AdaptiveParams {
  uint32_t items = 200;
  uint32_t hidden_limit = 6;     // calls in flight the mock API accepts; the client never sees it
  uint32_t max_concurrent = 10;  // the registered "openai" limiter (no window in this story)
  uint32_t initial_concurrent = 10;
  uint32_t min_concurrent = 1;
  uint32_t max_adaptive = 20;
  uint32_t recovery_threshold = 10;
  double backoff_factor = 0.5;
  double recovery_factor = 1.2;
  uint32_t max_attempts = 8;
  double nominal_call_min_ms = 50.0;
  double nominal_call_max_ms = 100.0;
  double nominal_reject_ms = 5.0;         // a 429 comes back quickly
  double nominal_retry_after_ms = 200.0;  // the 429's Retry-After
  double time_scale = 1.0;
  uint64_t seed = 42;

  int64_t scaled_ns(double ms) const;
};

// One attempt of one item, in ns since the run's start, stamped inside the item function:
// after the grant and before the release, so each span lies inside the permit's span.
struct Attempt {
  uint32_t item = 0;
  uint32_t attempt = 0;  // 1, 2, ...
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  bool rejected = false;  // the mock API said 429
};

// The batch's adaptive limit (ptl_batch_report.concurrency), read at every attempt's start
// and end; kept only where it changed.
struct LimitSample {
  int64_t t_ns = 0;
  uint32_t concurrency = 0;
};

struct AdaptiveRun {
  std::vector<Attempt> attempts;  // sorted by start
  std::vector<LimitSample> limit;
  std::vector<int> statuses;  // each item's final status
  int status = 0;             // ptl_batch_run's
  int64_t end_ns = 0;
  // The library's report of the batch.
  uint32_t lib_concurrency = 0, lib_peak_in_flight = 0;
  uint64_t lib_attempts = 0, lib_retries = 0, lib_rate_limited = 0;
  uint64_t lib_backoffs = 0, lib_recoveries = 0, lib_succeeded = 0;
  std::string registry_note;
  std::string error;  // non-empty if a ptl_* call failed (not an item: those are statuses)
};

// Registers "openai" (max_concurrent, no window) and runs the batch.
AdaptiveRun run_adaptive(const AdaptiveParams& p);

struct AdaptiveAnalysis {
  uint32_t items = 0, succeeded = 0;
  uint64_t attempts = 0, rejected = 0;
  uint32_t limit_start = 0, limit_end = 0;
  // Discovery: the first 429; the first time the limit was at most the hidden limit; and
  // the end of every attempt started by then (the waves that found the limit).
  int64_t first_429_ns = -1, limit_under_ns = -1, settled_ns = -1;
  uint32_t limit_low = 0, limit_high = 0;  // its range after settled_ns
  // The rule: after settled_ns, attempts in flight never exceed `allowed` (the hidden limit
  // plus one growth step, capped by "openai"), and average at most the hidden limit.
  uint32_t allowed = 0;
  uint32_t peak_after = 0;
  double mean_after = 0;           // attempts in flight, time-weighted, after settled_ns
  double mean_accepted_after = 0;  // calls the API accepted, in flight, after settled_ns
  bool all_done = false, peak_ok = false, mean_ok = false;
  std::vector<uint32_t> path;  // the limit's successive values

  bool pass() const { return all_done && peak_ok && mean_ok; }
};

AdaptiveAnalysis analyze_adaptive(const AdaptiveParams& p, const AdaptiveRun& r);
void print_adaptive_header(std::FILE* out, const AdaptiveParams& p);
void print_adaptive_text(std::FILE* out, const AdaptiveParams& p, const AdaptiveRun& r,
                         const AdaptiveAnalysis& a);
SvgTimeline adaptive_picture(const AdaptiveParams& p, const AdaptiveRun& r,
                             const AdaptiveAnalysis& a);

}  // namespace demo
