// SPDX-License-Identifier: MIT
// A mock LLM provider for --scenario tokens: it keeps its own count of requests and tokens
// per strict sliding window, whatever its callers believe, and answers as OpenAI does:
// success with x-ratelimit-{remaining,reset}-{requests,tokens} headers, or 429 with
// Retry-After. Thread-safe; every accepted call and every 429 is logged for the verdict.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace demo {

using Headers = std::vector<std::pair<std::string, std::string>>;

// A Go duration as OpenAI writes x-ratelimit-reset-*: "350ms", "1.2s", "1m3s"; rounded up
// to the millisecond, so it never promises room earlier than there is.
std::string go_duration(int64_t ns);

class MockProvider {
 public:
  // At most max_requests calls and max_tokens tokens counted in any closed span of
  // window_ns, on CLOCK_MONOTONIC.
  MockProvider(uint64_t max_requests, uint64_t max_tokens, int64_t window_ns);

  // One call of `source` (0, 1: the services; 2: the third consumer) that will use `tokens`
  // in all (prompt + completion). The provider counts the actual usage when the call
  // arrives: if it fits both counts it is counted and admitted, else refused with a 429.
  struct Admission {
    bool ok = false;
    int64_t t_ns = 0;            // when it was counted or refused (CLOCK_MONOTONIC)
    int64_t retry_after_ns = 0;  // refused: until it fits if nothing else comes, in ms
    Headers headers;             // refused: Retry-After (whole seconds), retry-after-ms
  };
  Admission admit(int source, uint64_t tokens);

  // The headers of a response sent now: what is left and when the count is back to zero
  // (x-ratelimit-reset-*: until the newest counted call leaves the window, as OpenAI's
  // "time until the limit resets to its initial state").
  Headers response_headers();

  struct Entry {
    int64_t t_ns = 0;  // CLOCK_MONOTONIC
    int source = 0;
    uint64_t tokens = 0;
    bool refused = false;
  };
  // Every admission so far, in time order.
  std::vector<Entry> log() const;

  uint64_t max_requests() const { return max_requests_; }
  uint64_t max_tokens() const { return max_tokens_; }
  int64_t window_ns() const { return window_ns_; }

 private:
  void expire(int64_t now);  // under mu_
  Headers headers_at(int64_t now) const;

  const uint64_t max_requests_, max_tokens_;
  const int64_t window_ns_;
  mutable std::mutex mu_;
  std::deque<Entry> window_;  // counted calls in [now - window, now]
  uint64_t tokens_in_window_ = 0;
  std::vector<Entry> log_;
};

}  // namespace demo
