// SPDX-License-Identifier: MIT
// --scenario tokens: two services share a policy of requests and tokens per window, against
// a mock provider (mock_provider.hpp) that keeps its own count and has a third consumer the
// library cannot see. Each call acquires its estimate (prompt + max_tokens), calls, settles
// the usage the provider reports, and, with header sync, feeds the response's x-ratelimit-*
// headers to ptl_observe_headers. The same workload runs twice, sync off then on.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "mock_provider.hpp"

namespace demo {

// Nominal figures are real time (a 60 s window, calls of seconds); the run divides every
// duration by time_scale.
struct TokensParams {
  uint32_t items_per_service = 50;
  uint32_t workers_per_service = 4;  // calls in flight per service, at most
  uint64_t max_requests = 60;        // the policy, and the provider's own count
  uint64_t max_tokens = 40'000;
  double nominal_window_s = 60.0;
  // A call: prompt uniform in [prompt_min, prompt_max], max_tokens `max_completion`, a
  // completion uniform in [completion_min, max_completion] that only the provider knows in
  // advance; the estimate prompt + max_completion is never below the usage.
  uint32_t prompt_min = 200, prompt_max = 1500;
  uint32_t completion_min = 50, max_completion = 800;
  double nominal_call_min_s = 1.5, nominal_call_max_s = 3.0;
  // The third consumer: a call every hidden_every_s, of hidden_min..hidden_max tokens (about
  // a tenth of both counts); it never asks the library.
  double nominal_hidden_every_s = 10.0;
  uint32_t hidden_min = 300, hidden_max = 1000;
  // A 60 s window lasts 2 s, a run about 8 s.
  double time_scale = 30.0;
  uint64_t seed = 42;

  int64_t window_ns() const;
  int64_t scaled_ns(double nominal_s) const;
};

inline constexpr int kHiddenSource = 2;  // MockProvider source of the third consumer

// One service call, drawn up front from the seed: both runs play the same workload.
struct TokensItem {
  int service = 0;
  uint32_t prompt = 0, max_tokens = 0, completion = 0;  // completion <= max_tokens
  int64_t call_ns = 0;                                  // scaled
  uint64_t estimate() const { return uint64_t{prompt} + max_tokens; }
  uint64_t usage() const { return uint64_t{prompt} + completion; }
};
std::vector<TokensItem> draw_tokens_items(const TokensParams& p);

struct TokensRun {
  bool sync = false;
  std::vector<MockProvider::Entry> log;  // the provider's, times since the run's start
  std::vector<int64_t> done_ns;          // per item: its successful call's end
  int64_t end_ns = 0;                    // the last item done
  uint64_t services_429 = 0, hidden_429 = 0, hidden_calls = 0;
  uint64_t observations = 0;  // what ptl_observe_headers applied, in all
  std::string error;          // non-empty if a ptl_* call failed
};

// Registers "openai" with the policy in a private registry (local:) and plays the workload.
TokensRun run_tokens(const TokensParams& p, const std::vector<TokensItem>& items, bool sync);

struct TokensAnalysis {
  uint64_t items = 0, done = 0;
  uint64_t services_429 = 0, hidden_429 = 0;
  // Most counted in any closed span of the window, as the provider counted them: everyone,
  // and the services alone (what the library granted).
  uint64_t peak_requests = 0, peak_tokens = 0;
  uint64_t services_peak_requests = 0, services_peak_tokens = 0;
  uint64_t services_requests = 0, services_tokens = 0;  // counted, in all
  uint64_t hidden_requests = 0, hidden_tokens = 0;      // counted before the last service call
  int64_t makespan_ns = 0;
  int64_t bound_requests_ns = 0, bound_tokens_ns = 0, bound_calls_ns = 0, lower_bound_ns = 0;
  double ratio = 0;
};
TokensAnalysis analyze_tokens(const TokensParams& p, const std::vector<TokensItem>& items,
                              const TokensRun& r);

void print_tokens_header(std::FILE* out, const TokensParams& p,
                         const std::vector<TokensItem>& items);
// Both runs, and the verdict; returns true if it holds: every item done both times, none of
// the services' calls refused with header sync, never over the limits as counted.
bool print_tokens_verdict(std::FILE* out, const TokensParams& p, const TokensRun (&r)[2],
                          const TokensAnalysis (&a)[2]);
// The provider's count in the sliding window over time, both runs (svg_usage.hpp).
bool write_tokens_svg(const TokensParams& p, const TokensRun (&r)[2], const TokensAnalysis (&a)[2],
                      const std::string& path, std::string* error);

}  // namespace demo
