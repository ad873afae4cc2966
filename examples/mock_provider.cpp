// SPDX-License-Identifier: MIT
#include "mock_provider.hpp"

#include <algorithm>

#include "demo_util.hpp"

namespace demo {

std::string go_duration(int64_t ns) {
  if (ns <= 0) return "0s";
  const int64_t ms = (ns + 999'999) / 1'000'000;  // up: never earlier than it is
  if (ms < 1000) return std::to_string(ms) + "ms";
  const int64_t min = ms / 60'000, rest = ms % 60'000;
  std::string s = min > 0 ? std::to_string(min) + "m" : "";
  s += std::to_string(rest / 1000);
  if (const int64_t frac = rest % 1000; frac != 0) {
    std::string f = std::to_string(1000 + frac).substr(1);  // 3 digits, leading zeros kept
    while (f.back() == '0') f.pop_back();
    s += "." + f;
  }
  return s + "s";
}

MockProvider::MockProvider(uint64_t max_requests, uint64_t max_tokens, int64_t window_ns)
    : max_requests_(max_requests), max_tokens_(max_tokens), window_ns_(window_ns) {}

void MockProvider::expire(int64_t now) {
  // Counted while now - window <= t: a strict sliding window, boundaries included.
  while (!window_.empty() && window_.front().t_ns < now - window_ns_) {
    tokens_in_window_ -= window_.front().tokens;
    window_.pop_front();
  }
}

MockProvider::Admission MockProvider::admit(int source, uint64_t tokens) {
  std::lock_guard lock(mu_);
  const int64_t now = now_ns();
  expire(now);
  Admission a;
  a.t_ns = now;
  const auto fits = [&](uint64_t requests, uint64_t used) {
    return requests + 1 <= max_requests_ && used + tokens <= max_tokens_;
  };
  if (fits(window_.size(), tokens_in_window_)) {
    a.ok = true;
    window_.push_back({now, source, tokens, false});
    tokens_in_window_ += tokens;
    log_.push_back(window_.back());
    return a;
  }
  // Refused: it fits once enough of the oldest calls have left (each leaves 1 ns after its
  // window), if nothing else is counted meanwhile.
  a.retry_after_ns = window_ns_;
  uint64_t requests = window_.size(), used = tokens_in_window_;
  for (const Entry& e : window_) {
    --requests;
    used -= e.tokens;
    if (fits(requests, used)) {
      a.retry_after_ns = e.t_ns + window_ns_ + 1 - now;
      break;
    }
  }
  const int64_t ms = (a.retry_after_ns + 999'999) / 1'000'000;
  a.retry_after_ns = ms * 1'000'000;  // what retry-after-ms says
  a.headers = headers_at(now);
  a.headers.emplace_back("retry-after", std::to_string((ms + 999) / 1000));
  a.headers.emplace_back("retry-after-ms", std::to_string(ms));
  log_.push_back({now, source, tokens, true});
  return a;
}

Headers MockProvider::headers_at(int64_t now) const {
  const int64_t reset = window_.empty() ? 0 : window_.back().t_ns + window_ns_ + 1 - now;
  return {{"x-ratelimit-limit-requests", std::to_string(max_requests_)},
          {"x-ratelimit-limit-tokens", std::to_string(max_tokens_)},
          {"x-ratelimit-remaining-requests", std::to_string(max_requests_ - window_.size())},
          {"x-ratelimit-remaining-tokens", std::to_string(max_tokens_ - tokens_in_window_)},
          {"x-ratelimit-reset-requests", go_duration(reset)},
          {"x-ratelimit-reset-tokens", go_duration(reset)}};
}

Headers MockProvider::response_headers() {
  std::lock_guard lock(mu_);
  const int64_t now = now_ns();
  expire(now);
  return headers_at(now);
}

std::vector<MockProvider::Entry> MockProvider::log() const {
  std::lock_guard lock(mu_);
  return log_;
}

}  // namespace demo
