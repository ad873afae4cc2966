// SPDX-License-Identifier: MIT
// Judges a recorded run from the outside (the recorded stamps only, never the library's
// word) and prints it as text or as one JSON object.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "scenario.hpp"
#include "svg_timeline.hpp"

namespace demo {

// One line of the timeline: the state at time t (inclusive: a grant or release stamped
// at t has happened).
struct TimelineRow {
  int64_t t_ns = 0;
  std::string event;  // empty for the periodic rows
  uint32_t in_flight[kServices] = {0, 0};
  uint32_t waiting[kServices] = {0, 0};
  uint32_t done[kServices] = {0, 0};
  uint32_t grants = 0;            // granted so far, both services
  uint32_t grants_in_window = 0;  // granted in the closed span [t - window, t]
};

struct ServiceSummary {
  uint32_t items = 0;
  uint32_t peak_in_flight = 0;
  int64_t finished_ns = 0;   // its last release
  int64_t mean_wait_ns = 0;  // grant - want, averaged
};

struct Analysis {
  uint32_t items = 0;
  uint32_t max_concurrent = 0;
  uint64_t max_per_window = 0;
  int64_t window_ns = 0;

  uint32_t peak_concurrency = 0;
  bool concurrency_ok = true;

  bool window_binds = false;  // more items than one window admits
  // The callers' view: most grant stamps in any closed span of window_ns, sliding. A
  // stamp is taken when acquire returns, which for a waiter handed a permit by another
  // thread's release is after its wake-up: later than the grant by the scheduling
  // delay (microseconds idle, milliseconds on a loaded machine). So these stamps can
  // crowd one more grant into a window than the limiter granted in it.
  uint64_t most_in_window = 0;
  // The shortest span holding max_per_window + 1 stamps (-1: not that many grants).
  int64_t tightest_span_ns = -1;
  // The proof: every grant lies between its acquire's call and return, so grants whose
  // whole [call, return] fits in one closed span of window_ns were granted in it. The
  // most such grants in any span is a lower bound on the true busiest window; above
  // max_per_window it proves an overrun, with no tolerance to pick.
  uint64_t proven_in_window = 0;
  bool window_ok = true;

  int64_t makespan_ns = 0;
  int64_t bound_concurrency_ns = 0;
  int64_t bound_window_ns = 0;  // 0 when the window cannot bind
  int64_t lower_bound_ns = 0;

  ServiceSummary services[kServices];
  std::vector<TimelineRow> timeline;

  bool never_over_quota() const { return concurrency_ok && window_ok; }
};

Analysis analyze(const Params& p, const RunResult& r);
// The scenario's one-paragraph description, printed before the run starts.
void print_text_header(std::FILE* out, const Params& p);
void print_text(std::FILE* out, const Params& p, const RunResult& r, const Analysis& a);
void print_json(std::FILE* out, const Params& p, const RunResult& r, const Analysis& a);
// The run as a timeline picture (see svg_timeline.hpp), titled with the verdict.
SvgTimeline timeline_picture(const Params& p, const RunResult& r, const Analysis& a);
// {"error": "..."} for a run cut short by a failed call.
void print_json_error(std::FILE* out, const std::string& error);

}  // namespace demo
