// SPDX-License-Identifier: MIT
// Judges an --adaptive run from its recorded attempts, and prints it.
#include "adaptive.hpp"

#include <pocketflow_throttled/ptl.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <utility>

#include "scenario.hpp"

namespace demo {
namespace {

// Attempts in flight at the start of each attempt started after `from`: the most of them.
// An attempt counts on [start, end), itself included.
uint32_t peak_at_starts(const std::vector<Attempt>& at, int64_t from) {
  std::vector<int64_t> ends;
  ends.reserve(at.size());
  for (const Attempt& x : at) ends.push_back(x.end_ns);
  std::sort(ends.begin(), ends.end());
  uint32_t peak = 0;
  for (size_t i = 0; i < at.size(); ++i) {  // at is sorted by start
    if (at[i].start_ns <= from) continue;
    size_t started = i + 1;
    while (started < at.size() && at[started].start_ns == at[i].start_ns) ++started;
    const auto ended = std::upper_bound(ends.begin(), ends.end(), at[i].start_ns) - ends.begin();
    peak = std::max(peak, static_cast<uint32_t>(started - static_cast<size_t>(ended)));
  }
  return peak;
}

// The time-weighted mean of the attempts in flight over [from, to]; only the accepted ones
// if `accepted_only`.
double mean_in_flight(const std::vector<Attempt>& at, int64_t from, int64_t to,
                      bool accepted_only) {
  if (to <= from) return 0;
  double area = 0;
  for (const Attempt& x : at) {
    if (accepted_only && x.rejected) continue;
    const int64_t a = std::max(x.start_ns, from), b = std::min(x.end_ns, to);
    if (b > a) area += static_cast<double>(b - a);
  }
  return area / static_cast<double>(to - from);
}

// The highest limit the adaptive rule reaches by growing from at most the hidden limit: the
// one probe above it that the next 429 answers.
uint32_t one_step_above(const AdaptiveParams& p) {
  const uint32_t h = p.hidden_limit;
  const auto grown = static_cast<uint32_t>(std::floor(h * p.recovery_factor));
  return std::min({p.max_adaptive, p.max_concurrent, std::max(h + 1, grown)});
}

double sec(int64_t ns) {
  return static_cast<double>(ns) * 1e-9;
}

}  // namespace

AdaptiveAnalysis analyze_adaptive(const AdaptiveParams& p, const AdaptiveRun& r) {
  AdaptiveAnalysis a;
  a.items = p.items;
  for (const int st : r.statuses) a.succeeded += st == PTL_OK;
  a.all_done = a.succeeded == a.items;
  a.attempts = r.attempts.size();
  for (const Attempt& x : r.attempts) {
    if (!x.rejected) continue;
    ++a.rejected;
    if (a.first_429_ns < 0 || x.end_ns < a.first_429_ns) a.first_429_ns = x.end_ns;
  }
  for (const LimitSample& s : r.limit) a.path.push_back(s.concurrency);
  if (!r.limit.empty()) a.limit_start = r.limit.front().concurrency;
  a.limit_end = r.lib_concurrency;

  if (a.rejected == 0) {
    // The limit was never met: then nothing may have been over it, from the start.
    a.settled_ns = 0;
    a.allowed = p.hidden_limit;
  } else {
    for (const LimitSample& s : r.limit)
      if (s.concurrency <= p.hidden_limit) {
        a.limit_under_ns = s.t_ns;
        break;
      }
    if (a.limit_under_ns >= 0) {
      // The attempts started by then may have been granted under a higher limit: they
      // are the waves that found the hidden limit, and the rule starts once they are over.
      a.settled_ns = a.limit_under_ns;
      for (const Attempt& x : r.attempts)
        if (x.start_ns <= a.limit_under_ns) a.settled_ns = std::max(a.settled_ns, x.end_ns);
    }
    a.allowed = one_step_above(p);
  }
  if (a.settled_ns >= 0) {
    a.peak_after = peak_at_starts(r.attempts, a.settled_ns);
    a.mean_after = mean_in_flight(r.attempts, a.settled_ns, r.end_ns, false);
    a.mean_accepted_after = mean_in_flight(r.attempts, a.settled_ns, r.end_ns, true);
    a.peak_ok = a.peak_after <= a.allowed;
    a.mean_ok = a.mean_after <= p.hidden_limit;
    a.limit_low = UINT32_MAX;
    for (size_t i = 0; i < r.limit.size(); ++i) {
      const bool later = i + 1 < r.limit.size() && r.limit[i + 1].t_ns <= a.settled_ns;
      if (later) continue;  // replaced before settled_ns
      a.limit_low = std::min(a.limit_low, r.limit[i].concurrency);
      a.limit_high = std::max(a.limit_high, r.limit[i].concurrency);
    }
    if (a.limit_low == UINT32_MAX) a.limit_low = 0;
  }
  return a;
}

void print_adaptive_header(std::FILE* out, const AdaptiveParams& p) {
  std::fprintf(out,
               "ptl-demo --adaptive: the API accepts at most %u calls in flight and answers 429"
               " (Retry-After %.0f ms) to more; the client does not know that limit\n",
               p.hidden_limit, p.nominal_retry_after_ms / p.time_scale);
  std::fprintf(out,
               "  %u items in one adaptive batch (ptl_batch_run): concurrency starts at %u"
               " (min %u, max %u), x%g on a 429, x%g after %u successes; up to %u attempts an"
               " item\n",
               p.items, p.initial_concurrent, p.min_concurrent, p.max_adaptive, p.backoff_factor,
               p.recovery_factor, p.recovery_threshold, p.max_attempts);
  std::fprintf(out,
               "  every attempt also holds \"%s\" (%u concurrent, no window); a mock call %.1f-%.1f"
               " ms, a 429 %.1f ms; time scale %g; seed %" PRIu64 "\n",
               kLimiterName, p.max_concurrent, p.nominal_call_min_ms / p.time_scale,
               p.nominal_call_max_ms / p.time_scale, p.nominal_reject_ms / p.time_scale,
               p.time_scale, p.seed);
  std::fflush(out);
}

void print_adaptive_text(std::FILE* out, const AdaptiveParams& p, const AdaptiveRun& r,
                         const AdaptiveAnalysis& a) {
  if (!r.registry_note.empty()) std::fprintf(out, "  note: %s\n", r.registry_note.c_str());
  const double pct =
      a.attempts ? 100.0 * static_cast<double>(a.rejected) / static_cast<double>(a.attempts) : 0;
  uint64_t first_waves = 0;
  for (const Attempt& x : r.attempts)
    first_waves += x.rejected && a.limit_under_ns >= 0 && x.start_ns <= a.limit_under_ns;
  std::string path;
  for (size_t i = 0; i < a.path.size(); ++i) {
    if (i == 24) {
      path += " ... " + std::to_string(a.path.back());
      break;
    }
    path += (i ? " " : "") + std::to_string(a.path[i]);
  }
  std::fprintf(out, "\n  items          %u / %u succeeded in %.3f s\n", a.succeeded, a.items,
               sec(r.end_ns));
  std::fprintf(out, "  attempts       %" PRIu64 " (%" PRIu64 " retries)\n", a.attempts,
               a.attempts - std::min<uint64_t>(a.attempts, a.items));
  std::fprintf(out,
               "  429s           %" PRIu64 " = %.1f%% of attempts, %" PRIu64
               " of them while finding the limit\n",
               a.rejected, pct, first_waves);
  std::fprintf(out, "  concurrency    %u at the start, %u at the end; path: %s\n", a.limit_start,
               a.limit_end, path.c_str());
  if (a.rejected == 0) {
    std::fprintf(out, "  the hidden limit was never met: at most %u attempts were in flight\n",
                 a.peak_after);
  } else if (a.settled_ns < 0) {
    std::fprintf(out, "  the limit never came down to the hidden limit %u\n", p.hidden_limit);
  } else {
    std::fprintf(out,
                 "  discovery      first 429 at %.3f s; limit <= %u from %.3f s; those waves"
                 " over at %.3f s\n",
                 sec(a.first_429_ns), p.hidden_limit, sec(a.limit_under_ns), sec(a.settled_ns));
    std::fprintf(out,
                 "  after that     limit %u..%u; attempts in flight: peak %u, mean %.2f;"
                 " accepted calls: mean %.2f = %.0f%% of %u\n",
                 a.limit_low, a.limit_high, a.peak_after, a.mean_after, a.mean_accepted_after,
                 100.0 * a.mean_accepted_after / p.hidden_limit, p.hidden_limit);
  }
  std::fprintf(out,
               "  library's own count: %" PRIu64 " attempts, %" PRIu64 " retries, %" PRIu64
               " rate-limited, %" PRIu64 " backoffs, %" PRIu64 " recoveries, peak %u in flight\n",
               r.lib_attempts, r.lib_retries, r.lib_rate_limited, r.lib_backoffs, r.lib_recoveries,
               r.lib_peak_in_flight);

  std::fprintf(out, "\nVerdict (hidden limit %u)\n", p.hidden_limit);
  std::fprintf(out, "  every item succeeded              %6u / %-6u %s\n", a.succeeded, a.items,
               a.all_done ? "ok" : "FAILED ITEMS");
  if (a.settled_ns < 0) {
    std::fprintf(out, "  the limit came down to %u         never            NOT FOUND\n",
                 p.hidden_limit);
  } else {
    // With no 429 the rule covers the whole run, and nothing may exceed the hidden limit.
    const char* when = a.rejected ? "once found" : "(no 429)  ";
    std::fprintf(out, "  peak in flight %s         %6u / %-6u %s\n", when, a.peak_after, a.allowed,
                 a.peak_ok ? "ok" : "OVER");
    if (a.rejected)
      std::fprintf(out,
                   "    (at most one growth step above the hidden limit: the probe a 429"
                   " answers)\n");
    std::fprintf(out, "  mean in flight %s         %6.2f / %-6u %s\n", when, a.mean_after,
                 p.hidden_limit, a.mean_ok ? "ok" : "OVER");
  }
  std::fprintf(out, "hidden limit found and respected: %s\n", a.pass() ? "PASS" : "FAIL");
}

SvgTimeline adaptive_picture(const AdaptiveParams& p, const AdaptiveRun& r,
                             const AdaptiveAnalysis& a) {
  SvgTimeline t;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "adaptive batch vs an API that accepts at most %u call%s in flight (hidden)",
                p.hidden_limit, p.hidden_limit == 1 ? "" : "s");
  t.title = buf;
  std::snprintf(buf, sizeof buf,
                "limit found and respected: %s  \u00b7  %u / %u items  \u00b7  %" PRIu64
                " 429s in %" PRIu64
                " attempts  \u00b7  concurrency %u \u2192 %u  \u00b7  mean"
                " in flight %.2f",
                a.pass() ? "PASS" : "FAIL", a.succeeded, a.items, a.rejected, a.attempts,
                a.limit_start, a.limit_end, a.mean_after);
  t.subtitle = buf;
  t.pass = a.pass();
  t.series = {"attempts in flight"};
  for (const Attempt& x : r.attempts) t.spans.push_back({0, x.start_ns, x.end_ns, x.rejected});
  t.end_ns = r.end_ns;
  t.max_concurrent = p.max_concurrent;
  t.window_ns = p.scaled_ns(1000.0);
  for (const LimitSample& s : r.limit) t.adaptive_limit.push_back({s.t_ns, double(s.concurrency)});
  t.hidden_limit = p.hidden_limit;
  return t;
}

}  // namespace demo
