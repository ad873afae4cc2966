// SPDX-License-Identifier: MIT
// The verdict is computed from the demo's own stamps, never from the library's counters,
// so a limiter that lies about itself still fails here.
#include "report.hpp"

#include <pocketflow_throttled/ptl.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstddef>
#include <numeric>

namespace demo {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Lower bound on the time to run the k shortest calls (d sorted ascending) with at most c
// at once, all started at 0:
//  - the longest of them runs alone at best: d[k-1];
//  - c slots share their total work: sum / c;
//  - some slot runs ceil(k/c) of them back to back (pigeonhole), each >= d[0].
// The k shortest, because any other k calls take at least as long on every term.
int64_t slots_bound(const std::vector<int64_t>& d, size_t k, uint32_t c) {
  const int64_t sum = std::accumulate(d.begin(), d.begin() + static_cast<ptrdiff_t>(k), int64_t{0});
  const auto ki = static_cast<int64_t>(k);
  return std::max({d[k - 1], ceil_div(sum, c), ceil_div(ki, c) * d[0]});
}

// The most grants whose [want, grant stamp] lies inside one closed span of `window`. A
// best span can be slid right until its start meets some want, so it suffices to try
// [want_a, want_a + window] for every a: count the items with want >= want_a and stamp
// <= want_a + window. Sweeping a from the latest want down, with a Fenwick tree over the
// stamps' ranks, makes that O(N log N) for any --items.
uint64_t most_proven_in_window(const std::vector<ItemRecord>& items, int64_t window) {
  std::vector<const ItemRecord*> by_want;
  std::vector<int64_t> stamps;
  for (const ItemRecord& it : items) {
    if (it.grant_ns < 0) continue;
    by_want.push_back(&it);
    stamps.push_back(it.grant_ns);
  }
  std::sort(stamps.begin(), stamps.end());
  std::sort(by_want.begin(), by_want.end(),
            [](const ItemRecord* x, const ItemRecord* y) { return x->want_ns > y->want_ns; });
  std::vector<uint32_t> tree(stamps.size() + 1, 0);  // Fenwick, 1-based over stamp ranks
  const auto rank = [&](int64_t t) {                 // how many stamps are <= t
    return static_cast<size_t>(std::upper_bound(stamps.begin(), stamps.end(), t) - stamps.begin());
  };
  uint64_t best = 0;
  for (size_t i = 0; i < by_want.size();) {
    const int64_t want = by_want[i]->want_ns;
    for (; i < by_want.size() && by_want[i]->want_ns == want; ++i)  // all with this want
      for (size_t k = rank(by_want[i]->grant_ns); k <= stamps.size(); k += k & (~k + 1)) ++tree[k];
    uint64_t count = 0;
    for (size_t k = rank(want + window); k > 0; k -= k & (~k + 1)) count += tree[k];
    best = std::max(best, count);
  }
  return best;
}

void fill_timeline(const Params& p, const RunResult& r, const std::vector<int64_t>& grants,
                   Analysis& a) {
  // A row per tenth of the run shows the phases at a glance; two event rows pin the
  // moment the window filled and the moment it slid far enough for the next grant.
  std::vector<std::pair<int64_t, std::string>> when;
  for (int k = 1; k <= 10; ++k) when.emplace_back(a.makespan_ns * k / 10, "");
  const size_t r_lim = p.max_per_window;
  if (grants.size() > r_lim) {
    when.emplace_back(grants[r_lim - 1], "window full (grant " + std::to_string(r_lim) + ")");
    when.emplace_back(grants[r_lim], "window slid (grant " + std::to_string(r_lim + 1) + ")");
  }
  std::stable_sort(when.begin(), when.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [t, event] : when) {
    TimelineRow row;
    row.t_ns = t;
    row.event = event;
    for (const ItemRecord& it : r.items) {
      if (it.want_ns >= 0 && it.want_ns <= t && (it.grant_ns < 0 || it.grant_ns > t))
        ++row.waiting[it.service];
      if (it.grant_ns < 0 || it.grant_ns > t) continue;
      ++row.grants;
      if (it.grant_ns >= t - a.window_ns) ++row.grants_in_window;
      if (it.release_ns >= 0 && it.release_ns <= t)
        ++row.done[it.service];
      else
        ++row.in_flight[it.service];
    }
    a.timeline.push_back(row);
  }
}

}  // namespace

Analysis analyze(const Params& p, const RunResult& r) {
  Analysis a;
  a.items = static_cast<uint32_t>(r.items.size());
  a.max_concurrent = p.max_concurrent;
  a.max_per_window = p.max_per_window;
  a.window_ns = std::llround(p.window_s() * 1e9);

  // Concurrency: the live counter rises after a grant and falls before the release, so
  // each counted span lies inside the permit's true span and the peak can only be
  // under-reported: above the limit is a proven overrun.
  a.peak_concurrency = r.peak_total_in_flight;
  a.concurrency_ok = a.peak_concurrency <= p.max_concurrent;

  std::vector<int64_t> grants;
  for (const ItemRecord& it : r.items)
    if (it.grant_ns >= 0) grants.push_back(it.grant_ns);
  std::sort(grants.begin(), grants.end());

  // Throughput, sliding: for every grant, the stamps in the closed span [g, g + W]. The
  // busiest span of any placement starts at some stamp, so this finds the true maximum.
  for (size_t i = 0, j = 0; i < grants.size(); ++i) {
    while (j < grants.size() && grants[j] - grants[i] <= a.window_ns) ++j;
    a.most_in_window = std::max<uint64_t>(a.most_in_window, j - i);
  }
  const size_t r_lim = p.max_per_window;
  a.window_binds = r.items.size() > r_lim;
  if (grants.size() > r_lim) {
    a.tightest_span_ns = INT64_MAX;
    for (size_t i = 0; i + r_lim < grants.size(); ++i)
      a.tightest_span_ns = std::min(a.tightest_span_ns, grants[i + r_lim] - grants[i]);
  }
  a.proven_in_window = most_proven_in_window(r.items, a.window_ns);
  a.window_ok = a.proven_in_window <= p.max_per_window;

  for (const ItemRecord& it : r.items) {
    a.makespan_ns = std::max(a.makespan_ns, it.release_ns);
    ServiceSummary& s = a.services[it.service];
    ++s.items;
    s.finished_ns = std::max(s.finished_ns, it.release_ns);
    if (it.grant_ns >= 0) s.mean_wait_ns += it.grant_ns - it.want_ns;
  }
  for (int s = 0; s < kServices; ++s) {
    a.services[s].peak_in_flight = r.peak_in_flight[s];
    if (a.services[s].items > 0) a.services[s].mean_wait_ns /= a.services[s].items;
  }

  // Lower bound on the makespan, from the calls' requested durations d (a real call only
  // sleeps longer), N calls, C at once, R grants in any closed span of W:
  //  - concurrency alone: slots_bound over all N calls;
  //  - the window: sorted grants g1 <= ... <= gN. Grants g_i .. g_{i+R} are R + 1, so
  //    they cannot fit in one closed span of W: g_{i+R} > g_i + W, and by induction
  //    g_{i+mR} > g_i + mW >= mW. With m = ceil(N/R) - 1 full windows, the last
  //    k = N - mR grants all come after mW, and those k calls still have to run on C
  //    slots: makespan >= mW + slots_bound over the k shortest calls.
  // The two constraints hold together, so the larger bound is the bound.
  std::vector<int64_t> d;
  for (const ItemRecord& it : r.items) d.push_back(it.call_ns);
  std::sort(d.begin(), d.end());
  const size_t n = d.size();
  if (n > 0) {
    a.bound_concurrency_ns = slots_bound(d, n, p.max_concurrent);
    if (a.window_binds) {
      const size_t m = (n + r_lim - 1) / r_lim - 1;
      const size_t k = n - m * r_lim;
      a.bound_window_ns =
          static_cast<int64_t>(m) * a.window_ns + slots_bound(d, k, p.max_concurrent);
    }
  }
  a.lower_bound_ns = std::max(a.bound_concurrency_ns, a.bound_window_ns);

  if (!grants.empty()) fill_timeline(p, r, grants, a);
  return a;
}

// ---- text ------------------------------------------------------------------------------

namespace {
double sec(int64_t ns) {
  return static_cast<double>(ns) * 1e-9;
}
// "10.058 s", or "5.815 ms" when the run is short, so figures keep three digits.
std::string dur(int64_t ns, bool ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ms ? "%.3f ms" : "%.3f s",
                static_cast<double>(ns) * (ms ? 1e-6 : 1e-9));
  return buf;
}
double ratio(int64_t x, int64_t y) {
  return y > 0 ? static_cast<double>(x) / static_cast<double>(y) : 0.0;
}
const char* ok(bool b) {
  return b ? "ok" : "OVER QUOTA";
}
}  // namespace

void print_text_header(std::FILE* out, const Params& p) {
  const std::string from =
      p.processes > 1 ? ", from " + std::to_string(p.processes) + " processes" : "";
  std::fprintf(out,
               "ptl-demo: %s and %s share limiter \"%s\" (%u concurrent, %" PRIu64
               " per %g s) in %s%s\n",
               kServiceNames[0], kServiceNames[1], kLimiterName, p.max_concurrent, p.max_per_window,
               p.nominal_window_s, p.where().c_str(), from.c_str());
  // With more than two processes a service is split between several, each with its flow.
  char shape[96];
  if (p.processes > 2)
    std::snprintf(shape, sizeof shape, "%u items each, split between flows of %u at once",
                  p.items_per_service, p.flows_at_once);
  else
    std::snprintf(shape, sizeof shape, "each a ThrottledParallelBatchFlow of %u items, %u at once",
                  p.items_per_service, p.flows_at_once);
  std::fprintf(
      out,
      "  %s; time scale %g: the window lasts %.3f s, a mock call %.1f-%.1f ms; seed %" PRIu64 "\n",
      shape, p.time_scale, p.window_s(), p.nominal_call_min_ms / p.time_scale,
      p.nominal_call_max_ms / p.time_scale, p.seed);
  std::fflush(out);  // the run takes seconds: say what is running before it starts
}

void print_text(std::FILE* out, const Params& p, const RunResult& r, const Analysis& a) {
  if (!r.registry_note.empty()) std::fprintf(out, "  note: %s\n", r.registry_note.c_str());
  if (!a.window_binds)
    std::fprintf(out,
                 "  note: %u grants fit in one window of %" PRIu64
                 ": the window never binds, only concurrency shapes this run (see --items)\n",
                 a.items, p.max_per_window);

  // Milliseconds when the run is short (a large --time-scale), so the rows stay distinct.
  const bool ms = a.makespan_ns < 1'000'000'000;
  const double unit = ms ? 1e-6 : 1e-9;
  std::fprintf(out, "\n%10s   %-17s%-17s%6s %10s\n", ms ? "time (ms)" : "time (s)",
               kServiceNames[0], kServiceNames[1], "grants", "in window");
  std::fprintf(out, "%10s   %4s %4s %5s  %4s %4s %5s\n", "", "run", "wait", "done", "run", "wait",
               "done");
  for (const TimelineRow& row : a.timeline) {
    std::fprintf(out, "%10.3f   %4u %4u %5u  %4u %4u %5u  %6u %10u",
                 static_cast<double>(row.t_ns) * unit, row.in_flight[0], row.waiting[0],
                 row.done[0], row.in_flight[1], row.waiting[1], row.done[1], row.grants,
                 row.grants_in_window);
    std::fprintf(out, "%s%s\n", row.event.empty() ? "" : "   <- ", row.event.c_str());
  }

  std::fprintf(out, "\nVerdict (limits: %u concurrent, %" PRIu64 " per %s window)\n",
               a.max_concurrent, a.max_per_window, dur(a.window_ns, ms).c_str());
  std::fprintf(out, "  peak concurrency                  %6u / %-6u %s\n", a.peak_concurrency,
               a.max_concurrent, ok(a.concurrency_ok));
  if (p.processes > 1)
    std::fprintf(out, "    (grant-to-release stamps that overlap, %u processes on one clock)\n",
                 p.processes);
  std::fprintf(out, "  grants in one window, proven      %6" PRIu64 " / %-6" PRIu64 " %s\n",
               a.proven_in_window, a.max_per_window, ok(a.window_ok));
  // Only the proven count is shown: a waiter woken by a grant stamps it late by its
  // wake-up delay, so raw stamps crowd and overstate (--json still reports them).
  std::fprintf(out, "    (grants whose whole acquire call, call to return, lies in one span)\n");
  std::fprintf(out, "  makespan %s, lower bound %s, ratio %.4f\n", dur(a.makespan_ns, ms).c_str(),
               dur(a.lower_bound_ns, ms).c_str(), ratio(a.makespan_ns, a.lower_bound_ns));
  std::fprintf(out, "    bound = max(concurrency %s, window %s)%s\n",
               dur(a.bound_concurrency_ns, ms).c_str(), dur(a.bound_window_ns, ms).c_str(),
               a.window_binds ? "" : ": the window cannot bind");
  for (int s = 0; s < kServices; ++s)
    std::fprintf(out, "  %-14s %u items, done at %s, mean wait %s, peak %u in flight\n",
                 kServiceNames[s], a.services[s].items, dur(a.services[s].finished_ns, ms).c_str(),
                 dur(a.services[s].mean_wait_ns, ms).c_str(), a.services[s].peak_in_flight);
  std::fprintf(out,
               "  library's own count: %" PRIu64 " acquired, %" PRIu64
               " timed out, %u in flight after the run\n",
               r.lib_total_acquired, r.lib_total_timeouts, r.lib_in_flight_after);
  std::fprintf(out, "never over quota: %s\n", a.never_over_quota() ? "PASS" : "FAIL");
}

SvgTimeline timeline_picture(const Params& p, const RunResult& r, const Analysis& a) {
  SvgTimeline t;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s and %s share \"%s\": %u concurrent, %" PRIu64 " per %g s window",
                kServiceNames[0], kServiceNames[1], kLimiterName, p.max_concurrent,
                p.max_per_window, p.window_s());
  t.title = buf;
  std::snprintf(buf, sizeof buf,
                "never over quota: %s  \u00b7  peak %u / %u in flight  \u00b7  %" PRIu64
                " / %" PRIu64 " in a window (proven)  \u00b7  makespan %.3f s = %.4f \u00d7 bound",
                a.never_over_quota() ? "PASS" : "FAIL", a.peak_concurrency, a.max_concurrent,
                a.proven_in_window, a.max_per_window, sec(a.makespan_ns),
                ratio(a.makespan_ns, a.lower_bound_ns));
  t.subtitle = buf;
  t.pass = a.never_over_quota();
  t.series.assign(kServiceNames, kServiceNames + kServices);
  for (const ItemRecord& it : r.items)
    if (it.grant_ns >= 0) t.spans.push_back({it.service, it.grant_ns, it.release_ns, false});
  t.end_ns = std::max(r.end_ns, a.makespan_ns);
  t.max_concurrent = p.max_concurrent;
  t.max_per_window = p.max_per_window;
  t.window_ns = a.window_ns;
  return t;
}

// ---- JSON (by hand: numbers, booleans and a few known strings) ---------------------------

namespace {

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      q += '\\';
      q += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      q += buf;
    } else {
      q += c;  // UTF-8 passes through unchanged, which JSON allows
    }
  }
  return q + "\"";
}

const char* jbool(bool b) {
  return b ? "true" : "false";
}

}  // namespace

void print_json_error(std::FILE* out, const std::string& error) {
  std::fprintf(out, "{\"error\":%s,\"never_over_quota\":null}\n", quoted(error).c_str());
}

void print_json(std::FILE* out, const Params& p, const RunResult& r, const Analysis& a) {
  std::fprintf(out, "{\"scenario\":{\"limiter\":%s,\"registry\":%s,\"processes\":%u,",
               quoted(kLimiterName).c_str(), quoted(p.uri.empty() ? "default" : p.uri).c_str(),
               p.processes);
  std::fprintf(out,
               "\"max_concurrent\":%u,\"max_per_window\":%" PRIu64
               ",\"nominal_window_s\":%.6f,\"window_s\":%.6f,\"time_scale\":%.6f,",
               p.max_concurrent, p.max_per_window, p.nominal_window_s, p.window_s(), p.time_scale);
  std::fprintf(out,
               "\"items_per_service\":%u,\"max_concurrent_flows\":%u,\"call_ms_min\":%.6f,"
               "\"call_ms_max\":%.6f,\"seed\":%" PRIu64 ",\"window_binds\":%s",
               p.items_per_service, p.flows_at_once, p.nominal_call_min_ms / p.time_scale,
               p.nominal_call_max_ms / p.time_scale, p.seed, jbool(a.window_binds));
  if (!r.registry_note.empty()) std::fprintf(out, ",\"note\":%s", quoted(r.registry_note).c_str());
  std::fprintf(out, "},\"timeline\":[");
  for (size_t i = 0; i < a.timeline.size(); ++i) {
    const TimelineRow& row = a.timeline[i];
    std::fprintf(out, "%s{\"t_s\":%.6f,\"event\":", i ? "," : "", sec(row.t_ns));
    std::fprintf(out, "%s", row.event.empty() ? "null" : quoted(row.event).c_str());
    for (int s = 0; s < kServices; ++s)
      std::fprintf(out, ",%s:{\"in_flight\":%u,\"waiting\":%u,\"done\":%u}",
                   quoted(kServiceNames[s]).c_str(), row.in_flight[s], row.waiting[s], row.done[s]);
    std::fprintf(out, ",\"grants\":%u,\"grants_in_window\":%u}", row.grants, row.grants_in_window);
  }
  std::fprintf(out, "],\"services\":[");
  for (int s = 0; s < kServices; ++s)
    std::fprintf(out,
                 "%s{\"name\":%s,\"items\":%u,\"done_s\":%.6f,\"mean_wait_s\":%.6f,"
                 "\"peak_in_flight\":%u}",
                 s ? "," : "", quoted(kServiceNames[s]).c_str(), a.services[s].items,
                 sec(a.services[s].finished_ns), sec(a.services[s].mean_wait_ns),
                 a.services[s].peak_in_flight);
  std::fprintf(
      out, "],\"verdict\":{\"peak_concurrency\":%u,\"max_concurrent\":%u,\"concurrency_ok\":%s,",
      a.peak_concurrency, a.max_concurrent, jbool(a.concurrency_ok));
  std::fprintf(out, "\"most_grants_in_window\":%" PRIu64 ",\"max_per_window\":%" PRIu64 ",",
               a.most_in_window, a.max_per_window);
  if (a.tightest_span_ns >= 0)
    std::fprintf(out, "\"tightest_span_s\":%.9f,", sec(a.tightest_span_ns));
  else
    std::fprintf(out, "\"tightest_span_s\":null,");
  std::fprintf(out, "\"proven_grants_in_window\":%" PRIu64 ",\"window_ok\":%s,", a.proven_in_window,
               jbool(a.window_ok));
  std::fprintf(out,
               "\"makespan_s\":%.6f,\"lower_bound_s\":%.6f,\"bound_concurrency_s\":%.6f,"
               "\"bound_window_s\":%.6f,\"makespan_ratio\":%.6f,",
               sec(a.makespan_ns), sec(a.lower_bound_ns), sec(a.bound_concurrency_ns),
               sec(a.bound_window_ns), ratio(a.makespan_ns, a.lower_bound_ns));
  std::fprintf(out, "\"never_over_quota\":%s,\"result\":\"%s\"},", jbool(a.never_over_quota()),
               a.never_over_quota() ? "PASS" : "FAIL");
  std::fprintf(out,
               "\"library\":{\"version\":%s,\"total_acquired\":%" PRIu64
               ",\"total_timeouts\":%" PRIu64 ",\"in_flight_after\":%u}}\n",
               quoted(ptl_version_string()).c_str(), r.lib_total_acquired, r.lib_total_timeouts,
               r.lib_in_flight_after);
}

}  // namespace demo
