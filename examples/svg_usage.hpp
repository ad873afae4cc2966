// SPDX-License-Identifier: MIT
// The picture of --scenario tokens, a standalone SVG document (hand-written, as
// svg_timeline.hpp): one panel per run, stacked, on one time axis. Each shows what the
// provider counted in the sliding window ending at each instant, as a share of its max:
// tokens (the third consumer's part shaded) and requests, the max dashed, and a cross at
// every 429.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mock_provider.hpp"

namespace demo {

struct UsagePanel {
  std::string label;                     // "header sync off: ..."
  std::vector<MockProvider::Entry> log;  // times since the run's start
  int hidden_source = 2;                 // the log's source of the third consumer
};

struct UsagePicture {
  std::string title;
  std::string subtitle;  // the verdict line
  bool pass = true;
  uint64_t max_requests = 0, max_tokens = 0;
  int64_t window_ns = 0;
  int64_t end_ns = 0;  // the time axis covers [0, end_ns]
  std::vector<UsagePanel> panels;
};

// What the provider counted in [t - window, t], a step function from t = 0: one step per
// change (a call counted, or one leaving the window 1 ns after its window).
struct UsageStep {
  int64_t t_ns = 0;
  uint64_t requests = 0, tokens = 0, hidden_tokens = 0;
};
std::vector<UsageStep> usage_steps(const std::vector<MockProvider::Entry>& log, int64_t window_ns,
                                   int hidden_source);

std::string render_usage_svg(const UsagePicture& pic);

}  // namespace demo
