// SPDX-License-Identifier: MIT
// A timeline picture of a recorded run as a standalone SVG document: hand-written text, no
// dependencies. render_timeline_svg is a pure function of the record, so it is testable and
// the same record always gives the same bytes.
//
// Top panel: permits in flight over time, a step line per series (service) and their total,
// with the concurrency limit dashed; for an adaptive run also the adaptive limit (a step
// line), the hidden upstream limit, and a red cross at every 429. Bottom panel: a tick per
// grant, coloured by series, and the number of grants in the sliding window ending at each
// instant, computed exactly from the grant stamps, with the window's limit dashed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace demo {

// One permit's life as recorded by the caller, in ns since the run's start.
struct SvgSpan {
  int series = 0;         // index into SvgTimeline::series
  int64_t start_ns = 0;   // granted (the attempt started)
  int64_t end_ns = 0;     // released (the attempt ended)
  bool rejected = false;  // the upstream answered 429 at end_ns
};

// A value that holds from t_ns until the next step.
struct SvgStep {
  int64_t t_ns = 0;
  double value = 0;
};

struct SvgTimeline {
  std::string title;
  std::string subtitle;  // the verdict line
  bool pass = true;      // colours the subtitle
  std::vector<std::string> series;
  std::vector<SvgSpan> spans;
  int64_t end_ns = 0;  // the run's end; the time axis covers [0, end_ns]

  uint32_t max_concurrent = 0;  // 0: no concurrency limit line
  uint64_t max_per_window = 0;  // 0: no throughput limit line
  int64_t window_ns = 0;        // the sliding window of the bottom panel, > 0

  // Adaptive runs only (empty / 0 otherwise).
  std::vector<SvgStep> adaptive_limit;
  uint32_t hidden_limit = 0;
};

// The number of spans in flight, a step function: one step per change, from t = 0. A span
// counts on [start, end); at equal stamps ends go first, so touching spans never add up.
// series < 0 counts every series.
std::vector<SvgStep> in_flight_steps(const std::vector<SvgSpan>& spans, int series);

// Grants in the closed span [t - window, t] for every t, a step function from t = 0: it
// rises at each grant and falls just after grant + window.
std::vector<SvgStep> window_count_steps(const std::vector<SvgSpan>& spans, int64_t window_ns);

// The whole document, about 900 x 600 user units, starting with "<?xml".
std::string render_timeline_svg(const SvgTimeline& t);

// Writes render_timeline_svg(t) to `path`; false (and *error set) if the file cannot be written.
bool write_timeline_svg(const SvgTimeline& t, const std::string& path, std::string* error);

}  // namespace demo
