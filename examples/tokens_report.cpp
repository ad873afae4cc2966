// SPDX-License-Identifier: MIT
// Judges the two runs of --scenario tokens from the provider's own log (never the
// library's word), prints them side by side, and draws them.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "scenario.hpp"
#include "svg_usage.hpp"
#include "tokens.hpp"

namespace demo {
namespace {

double sec(int64_t ns) {
  return static_cast<double>(ns) * 1e-9;
}

struct Peak {
  uint64_t requests = 0, tokens = 0;
};

// The most counted in any closed span of window_ns, over the accepted calls `keep` selects:
// a busiest span can be taken to end at a call, so each call is tried as the end.
template <class Keep>
Peak peak_in_window(const std::vector<MockProvider::Entry>& log, int64_t window_ns, Keep keep) {
  std::vector<MockProvider::Entry> e;
  for (const auto& x : log)
    if (!x.refused && keep(x)) e.push_back(x);
  Peak pk;
  uint64_t requests = 0, tokens = 0;
  for (size_t lo = 0, hi = 0; hi < e.size(); ++hi) {  // the log is in time order
    ++requests;
    tokens += e[hi].tokens;
    for (; e[lo].t_ns < e[hi].t_ns - window_ns; ++lo) {
      --requests;
      tokens -= e[lo].tokens;
    }
    pk.requests = std::max(pk.requests, requests);
    pk.tokens = std::max(pk.tokens, tokens);
  }
  return pk;
}

// At least (ceil(total / max) - 1) windows pass between the first call counted and the
// last: [0, t) splits into windows of which each holds at most max.
int64_t window_bound(uint64_t total, uint64_t max, int64_t window_ns) {
  const uint64_t windows = (total + max - 1) / max;
  return windows > 0 ? static_cast<int64_t>(windows - 1) * window_ns : 0;
}

std::string thousands(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

}  // namespace

TokensAnalysis analyze_tokens(const TokensParams& p, const std::vector<TokensItem>& items,
                              const TokensRun& r) {
  TokensAnalysis a;
  const int64_t w = p.window_ns();
  a.items = items.size();
  for (const int64_t d : r.done_ns) a.done += d >= 0;
  a.services_429 = r.services_429;
  a.hidden_429 = r.hidden_429;
  const Peak all = peak_in_window(r.log, w, [](const auto&) { return true; });
  const Peak svc =
      peak_in_window(r.log, w, [](const auto& x) { return x.source != kHiddenSource; });
  a.peak_requests = all.requests;
  a.peak_tokens = all.tokens;
  a.services_peak_requests = svc.requests;
  a.services_peak_tokens = svc.tokens;

  int64_t last_call = 0;  // the last service call counted
  for (const auto& x : r.log)
    if (!x.refused && x.source != kHiddenSource) {
      ++a.services_requests;
      a.services_tokens += x.tokens;
      last_call = x.t_ns;
    }
  for (const auto& x : r.log)
    if (!x.refused && x.source == kHiddenSource && x.t_ns <= last_call) {
      ++a.hidden_requests;
      a.hidden_tokens += x.tokens;
    }
  // Everything the provider counted up to the last service call had to fit its windows;
  // then that call still ran for at least the shortest call's duration.
  int64_t shortest = INT64_MAX;
  for (const TokensItem& it : items) shortest = std::min(shortest, it.call_ns);
  if (items.empty()) shortest = 0;
  a.bound_requests_ns =
      window_bound(a.services_requests + a.hidden_requests, p.max_requests, w) + shortest;
  a.bound_tokens_ns = window_bound(a.services_tokens + a.hidden_tokens, p.max_tokens, w) + shortest;
  // And each service's calls take their time on its workers.
  int64_t busy[kServices] = {0, 0};
  for (const TokensItem& it : items) busy[it.service] += it.call_ns;
  for (const int64_t b : busy)
    a.bound_calls_ns = std::max(a.bound_calls_ns, b / p.workers_per_service);
  a.lower_bound_ns = std::max({a.bound_requests_ns, a.bound_tokens_ns, a.bound_calls_ns});
  a.makespan_ns = r.end_ns;
  a.ratio = a.lower_bound_ns > 0 ? sec(a.makespan_ns) / sec(a.lower_bound_ns) : 0;
  return a;
}

void print_tokens_header(std::FILE* out, const TokensParams& p,
                         const std::vector<TokensItem>& items) {
  uint64_t estimate = 0, usage = 0;
  for (const TokensItem& it : items) {
    estimate += it.estimate();
    usage += it.usage();
  }
  std::fprintf(out,
               "ptl-demo --scenario tokens: %s and %s share limiter \"%s\", the policy {requests"
               " %" PRIu64 ", tokens %s} per %g s\n",
               kServiceNames[0], kServiceNames[1], kLimiterName, p.max_requests,
               thousands(p.max_tokens).c_str(), p.nominal_window_s);
  std::fprintf(out,
               "  time scale %g: the window lasts %.3f s, a call %.0f-%.0f ms; seed %" PRIu64 "\n",
               p.time_scale, sec(p.window_ns()), p.nominal_call_min_s * 1e3 / p.time_scale,
               p.nominal_call_max_s * 1e3 / p.time_scale, p.seed);
  std::fprintf(out,
               "  %u calls a service, %u at once: prompt %u-%u tokens, max_tokens %u, completion"
               " %u-%u;\n    acquire the estimate (prompt + max_tokens: %s in all), settle the"
               " usage (%s in all)\n",
               p.items_per_service, p.workers_per_service, p.prompt_min, p.prompt_max,
               p.max_completion, p.completion_min, p.max_completion, thousands(estimate).c_str(),
               thousands(usage).c_str());
  std::fprintf(out,
               "  the mock provider counts requests and tokens itself (strict sliding window of"
               " the same size)\n    and answers x-ratelimit-* headers, or 429 with Retry-After;"
               " a third consumer on the same key,\n    invisible to the library, calls every"
               " %.0f ms with %u-%u tokens (about a tenth of both counts)\n",
               p.nominal_hidden_every_s * 1e3 / p.time_scale, p.hidden_min, p.hidden_max);
  std::fprintf(out, "  the same workload twice: header sync off, then on (ptl_observe_headers)\n");
  std::fflush(out);
}

bool print_tokens_verdict(std::FILE* out, const TokensParams& p, const TokensRun (&r)[2],
                          const TokensAnalysis (&a)[2]) {
  const auto row_u = [&](const char* what, uint64_t off, uint64_t on, const char* unit = "") {
    std::fprintf(out, "  %-36s %17s %17s%s\n", what, thousands(off).c_str(), thousands(on).c_str(),
                 unit);
  };
  const auto row_of = [&](const char* what, uint64_t off, uint64_t on, uint64_t max) {
    const std::string o = thousands(off) + " / " + thousands(max);
    const std::string n = thousands(on) + " / " + thousands(max);
    std::fprintf(out, "  %-36s %17s %17s\n", what, o.c_str(), n.c_str());
  };
  std::fprintf(out, "\n  %-36s %17s %17s\n", "", "sync off", "sync on");
  row_u("calls done", a[0].done, a[1].done);
  row_u("provider 429s to the services", a[0].services_429, a[1].services_429);
  row_u("provider 429s to the third consumer", a[0].hidden_429, a[1].hidden_429);
  row_u("third consumer's attempts", r[0].hidden_calls, r[1].hidden_calls);
  row_u("observations applied", r[0].observations, r[1].observations);
  row_of("peak requests in a window, everyone", a[0].peak_requests, a[1].peak_requests,
         p.max_requests);
  row_of("peak tokens in a window, everyone", a[0].peak_tokens, a[1].peak_tokens, p.max_tokens);
  row_of("peak requests, the services alone", a[0].services_peak_requests,
         a[1].services_peak_requests, p.max_requests);
  row_of("peak tokens, the services alone", a[0].services_peak_tokens, a[1].services_peak_tokens,
         p.max_tokens);
  char m[2][64];
  for (int k = 0; k < 2; ++k)
    std::snprintf(m[k], sizeof m[k], "%.3f / %.3f s", sec(a[k].makespan_ns),
                  sec(a[k].lower_bound_ns));
  std::fprintf(out, "  %-36s %17s %17s\n", "makespan / lower bound", m[0], m[1]);
  for (int k = 0; k < 2; ++k) std::snprintf(m[k], sizeof m[k], "%.3f", a[k].ratio);
  std::fprintf(out, "  %-36s %17s %17s\n", "  ratio", m[0], m[1]);
  std::fprintf(out,
               "    bound = the larger of (ceil(counted / max) - 1) windows + the shortest call,"
               " for requests\n    and for tokens (counted: the services' and the third"
               " consumer's calls up to the services'\n    last), and a service's calls spread"
               " over its workers\n");

  const bool all_done = a[0].done == a[0].items && a[1].done == a[1].items;
  const bool synced = a[1].services_429 == 0;
  // The provider refuses what does not fit, so "everyone" never exceeds max; the services
  // alone are what the library granted, settled: never over the policy.
  bool under = true;
  for (const auto& x : a)
    under = under && x.services_peak_requests <= p.max_requests &&
            x.services_peak_tokens <= p.max_tokens;
  std::fprintf(out, "\nVerdict (policy: %" PRIu64 " requests and %s tokens per %.3f s)\n",
               p.max_requests, thousands(p.max_tokens).c_str(), sec(p.window_ns()));
  std::fprintf(out, "  every call done, both runs              %s\n", all_done ? "ok" : "NO");
  std::fprintf(out, "  the services within the policy          %s\n", under ? "ok" : "OVER");
  std::fprintf(out,
               "  429s to the services: %" PRIu64 " without header sync, %" PRIu64 " with it  %s\n",
               a[0].services_429, a[1].services_429, synced ? "ok" : "NOT ZERO");
  const bool pass = all_done && under && synced && r[0].error.empty() && r[1].error.empty();
  std::fprintf(out, "no 429 with header sync: %s\n", pass ? "PASS" : "FAIL");
  return pass;
}

bool write_tokens_svg(const TokensParams& p, const TokensRun (&r)[2], const TokensAnalysis (&a)[2],
                      const std::string& path, std::string* error) {
  UsagePicture pic;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "two services share %" PRIu64
                " requests and %s tokens per window with a"
                " consumer they cannot see",
                p.max_requests, thousands(p.max_tokens).c_str());
  pic.title = buf;
  const bool pass = a[1].services_429 == 0 && a[0].done == a[0].items && a[1].done == a[1].items;
  std::snprintf(
      buf, sizeof buf,
      "no 429 with header sync: %s  \u00b7  429s to the services: %" PRIu64
      " without sync, %" PRIu64 " with it  \u00b7  makespan %.2f\u00d7 / %.2f\u00d7 bound",
      pass ? "PASS" : "FAIL", a[0].services_429, a[1].services_429, a[0].ratio, a[1].ratio);
  pic.subtitle = buf;
  pic.pass = pass;
  pic.max_requests = p.max_requests;
  pic.max_tokens = p.max_tokens;
  pic.window_ns = p.window_ns();
  for (int k = 0; k < 2; ++k) {
    std::snprintf(buf, sizeof buf,
                  "header sync %s: %" PRIu64 " 429s to the services, %" PRIu64
                  " to the third consumer; peak tokens %s, requests %" PRIu64,
                  k ? "on" : "off", a[k].services_429, a[k].hidden_429,
                  thousands(a[k].peak_tokens).c_str(), a[k].peak_requests);
    pic.panels.push_back({buf, r[k].log, kHiddenSource});
    pic.end_ns = std::max(pic.end_ns, r[k].end_ns);
  }
  const std::string doc = render_usage_svg(pic);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  const bool ok = std::fwrite(doc.data(), 1, doc.size(), f) == doc.size();
  if (std::fclose(f) != 0 || !ok) {
    *error = path + ": write failed";
    return false;
  }
  return true;
}

}  // namespace demo
