// SPDX-License-Identifier: MIT
// ptl-demo: two services share one "openai" quota through a registry (the default one,
// or --uri), in one process or in --processes N; the run is recorded and judged from the
// outside. Exit status: 0 the quota held, 1 it was exceeded (or a call or a process
// failed), 2 bad usage.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "adaptive.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "scenario.hpp"
#include "tokens.hpp"

namespace {

constexpr uint32_t kMaxProcesses = 64;

void usage(std::FILE* out) {
  const demo::Params d;
  const demo::AdaptiveParams ad;
  const demo::TokensParams tk;
  std::fprintf(out,
               "usage: ptl-demo [--uri URI [--processes N]] [--time-scale X] [--items N]\n"
               "                [--seed S] [--json] [--svg FILE] [--help]\n"
               "       ptl-demo --adaptive [--hidden-limit N] [--time-scale X] [--items N]\n"
               "                [--seed S] [--svg FILE]\n"
               "       ptl-demo --scenario tokens [--time-scale X] [--items N] [--seed S]\n"
               "                [--svg FILE]\n"
               "\n"
               "Two services (%s, %s), each a ThrottledParallelBatchFlow running up to\n"
               "%u item instances at once, share the limiter \"%s\": %u concurrent, %llu per\n"
               "%g s, registered once in the default registry (PTL_REGISTRY_URI) or in\n"
               "--uri. Each mock LLM call sleeps %g-%g ms under a permit. The run is\n"
               "recorded and checked: peak concurrency, most grants in any window-length\n"
               "span (sliding), makespan against its theoretical lower bound.\n"
               "\n"
               "  --uri URI       the registry where \"%s\" lives: local: (a private one),\n"
               "                  shm://NAME (processes of this host) or redis://HOST:PORT;\n"
               "                  registered afresh there and removed at the end\n"
               "  --processes N   run the services in N child processes of this one (1..%u;\n"
               "                  1, the default: in this process); child k runs service\n"
               "                  k %% 2, its share of that service's items, %u at once;\n"
               "                  all share --uri, which must be shm:// or redis://. The\n"
               "                  children's stamps (one CLOCK_MONOTONIC) are merged and\n"
               "                  judged as one run\n"
               "  --adaptive      instead, one adaptive batch of %u items meets an API that\n"
               "                  accepts only --hidden-limit calls in flight (default %u) and\n"
               "                  answers 429 to more; checked: every item done, and once the\n"
               "                  limit is found, in flight at most one growth step above it\n"
               "  --scenario S    services (the default: the above), adaptive (--adaptive) or\n"
               "                  tokens: the two services share a policy of %llu requests and\n"
               "                  %llu tokens per %g s, acquire each call's estimate and settle\n"
               "                  its usage, against a mock provider that counts for itself,\n"
               "                  answers x-ratelimit-* headers or 429, and serves a third\n"
               "                  consumer the library cannot see; played twice, without and\n"
               "                  with header sync (ptl_observe_headers); checked: no 429 to\n"
               "                  the services with sync (time scale %g, %u calls a service)\n"
               "  --time-scale X  divide every duration, window included, by X > 0 (default %g:\n"
               "                  the %g s window lasts %g s and the run about 10 s; with\n"
               "                  --adaptive %g: real time, about 4 s)\n"
               "  --items N       items per service, 1..1000000 (default %u; with 20, the\n"
               "                  original story, all grants fit in one window); with\n"
               "                  --adaptive, items of the batch (default %u)\n"
               "  --seed S        seed of the call durations (default %llu)\n"
               "  --json          print the report as one JSON object (default scenario)\n"
               "  --svg FILE      also draw the run's timeline into FILE (SVG)\n"
               "  --help          print this help\n"
               "\n"
               "Exit status: 0 never over quota (--adaptive: the verdict holds), 1 over quota,\n"
               "a failed call or a failed process, 2 bad usage.\n",
               demo::kServiceNames[0], demo::kServiceNames[1], d.flows_at_once, demo::kLimiterName,
               d.max_concurrent, static_cast<unsigned long long>(d.max_per_window),
               d.nominal_window_s, d.nominal_call_min_ms, d.nominal_call_max_ms, demo::kLimiterName,
               kMaxProcesses, d.flows_at_once, ad.items, ad.hidden_limit,
               static_cast<unsigned long long>(tk.max_requests),
               static_cast<unsigned long long>(tk.max_tokens), tk.nominal_window_s, tk.time_scale,
               tk.items_per_service, d.time_scale, d.nominal_window_s, d.window_s(), ad.time_scale,
               d.items_per_service, ad.items, static_cast<unsigned long long>(d.seed));
}

[[noreturn]] void bad_usage(const std::string& why) {
  std::fprintf(stderr, "ptl-demo: %s\n\n", why.c_str());
  usage(stderr);
  std::exit(2);
}

// Whole-string unsigned parse: "12x", "-1", "" and overflow are all errors.
bool parse_u64(const char* s, unsigned long long max, unsigned long long* out) {
  if (*s == '\0' || *s == '-' || *s == '+') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

// Finite and positive; a scale of 1e6 already turns a minute into 60 us.
bool parse_scale(const char* s, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (*s == '\0' || errno != 0 || *end != '\0' || !std::isfinite(v) || v <= 0 || v > 1e6)
    return false;
  *out = v;
  return true;
}

struct Options {
  demo::Params params;
  demo::AdaptiveParams adaptive;
  demo::TokensParams tokens;
  bool is_adaptive = false;
  bool is_tokens = false;
  bool json = false;
  std::string svg;     // empty: no picture
  int64_t child = -1;  // >= 0: this process is that child of a --processes run
};

Options parse(int argc, char** argv) {
  Options o;
  bool hidden_limit_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    // Both "--opt value" and "--opt=value".
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    const auto take_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) bad_usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      if (has_value) bad_usage(arg + " takes no value");
      usage(stdout);
      std::exit(0);
    } else if (arg == "--json") {
      if (has_value) bad_usage(arg + " takes no value");
      o.json = true;
    } else if (arg == "--svg") {
      o.svg = take_value();
      if (o.svg.empty()) bad_usage("--svg: want a file name");
    } else if (arg == "--time-scale") {
      const std::string v = take_value();
      if (!parse_scale(v.c_str(), &o.params.time_scale))
        bad_usage("--time-scale: want a number > 0 and <= 1e6, got '" + v + "'");
      o.adaptive.time_scale = o.params.time_scale;
      o.tokens.time_scale = o.params.time_scale;
    } else if (arg == "--items") {
      const std::string v = take_value();
      unsigned long long n = 0;
      if (!parse_u64(v.c_str(), 1'000'000, &n) || n == 0)
        bad_usage("--items: want an integer 1..1000000, got '" + v + "'");
      o.params.items_per_service = static_cast<uint32_t>(n);
      o.adaptive.items = static_cast<uint32_t>(n);
      o.tokens.items_per_service = static_cast<uint32_t>(n);
    } else if (arg == "--seed") {
      const std::string v = take_value();
      unsigned long long s = 0;
      if (!parse_u64(v.c_str(), UINT64_MAX, &s))
        bad_usage("--seed: want an unsigned integer, got '" + v + "'");
      o.params.seed = s;
      o.adaptive.seed = s;
      o.tokens.seed = s;
    } else if (arg == "--uri") {
      o.params.uri = take_value();
      if (o.params.uri.empty()) bad_usage("--uri: want a registry URI");
    } else if (arg == "--processes") {
      const std::string v = take_value();
      unsigned long long n = 0;
      if (!parse_u64(v.c_str(), kMaxProcesses, &n) || n == 0)
        bad_usage("--processes: want an integer 1.." + std::to_string(kMaxProcesses) + ", got '" +
                  v + "'");
      o.params.processes = static_cast<uint32_t>(n);
    } else if (arg == demo::kChildFlag) {  // internal: started by a --processes parent
      const std::string v = take_value();
      unsigned long long k = 0;
      if (!parse_u64(v.c_str(), kMaxProcesses - 1, &k)) bad_usage(arg + ": bad value");
      o.child = static_cast<int64_t>(k);
    } else if (arg == "--adaptive") {
      if (has_value) bad_usage(arg + " takes no value");
      o.is_adaptive = true;
    } else if (arg == "--scenario") {
      const std::string v = take_value();
      if (v == "adaptive")
        o.is_adaptive = true;
      else if (v == "tokens")
        o.is_tokens = true;
      else if (v != "services")
        bad_usage("--scenario: want services, adaptive or tokens, got '" + v + "'");
    } else if (arg == "--hidden-limit") {
      const std::string v = take_value();
      unsigned long long n = 0;
      if (!parse_u64(v.c_str(), 1000, &n) || n == 0)
        bad_usage("--hidden-limit: want an integer 1..1000, got '" + v + "'");
      o.adaptive.hidden_limit = static_cast<uint32_t>(n);
      hidden_limit_given = true;
    } else {
      bad_usage("unknown option '" + std::string(argv[i]) + "'");
    }
  }
  if (o.is_tokens && (o.is_adaptive || hidden_limit_given || o.json || !o.params.uri.empty() ||
                      o.params.processes > 1))
    bad_usage(
        "--scenario tokens runs in one process on a private registry; it takes --time-scale,"
        " --items, --seed and --svg");
  if (hidden_limit_given && !o.is_adaptive) bad_usage("--hidden-limit goes with --adaptive");
  if (o.json && o.is_adaptive) bad_usage("--json reports the default scenario only");
  if (o.is_adaptive && (!o.params.uri.empty() || o.params.processes > 1))
    bad_usage(
        "--adaptive runs in one process on the default registry; --uri and --processes "
        "go with the default scenario");
  if (const std::string why = demo::processes_refusal(o.params); !why.empty()) bad_usage(why);
  if (o.params.processes > 2 * o.params.items_per_service)
    bad_usage("--processes " + std::to_string(o.params.processes) +
              " leaves a process without "
              "items: at most 2 x --items");
  if (o.child >= 0 && (o.params.processes < 2 || o.child >= o.params.processes))
    bad_usage(std::string(demo::kChildFlag) + " is internal to --processes");
  return o;
}

// Writes the picture; false (after saying why) if the file cannot be written.
bool write_svg(const Options& o, const demo::SvgTimeline& picture) {
  std::string error;
  if (!demo::write_timeline_svg(picture, o.svg, &error)) {
    std::fprintf(stderr, "ptl-demo: --svg: %s\n", error.c_str());
    return false;
  }
  if (!o.json) std::printf("timeline picture: %s\n", o.svg.c_str());
  return true;
}

int run_adaptive(const Options& o) {
  demo::print_adaptive_header(stdout, o.adaptive);
  const demo::AdaptiveRun run = demo::run_adaptive(o.adaptive);
  if (!run.error.empty()) {
    std::fprintf(stderr, "ptl-demo: %s\n", run.error.c_str());
    return 1;
  }
  const demo::AdaptiveAnalysis a = demo::analyze_adaptive(o.adaptive, run);
  demo::print_adaptive_text(stdout, o.adaptive, run, a);
  if (!o.svg.empty() && !write_svg(o, demo::adaptive_picture(o.adaptive, run, a))) return 1;
  return a.pass() ? 0 : 1;
}

int run_tokens(const Options& o) {
  const demo::TokensParams& p = o.tokens;
  const std::vector<demo::TokensItem> items = demo::draw_tokens_items(p);
  demo::print_tokens_header(stdout, p, items);
  demo::TokensRun runs[2];
  demo::TokensAnalysis an[2];
  for (int k = 0; k < 2; ++k) {
    runs[k] = demo::run_tokens(p, items, k == 1);
    if (!runs[k].error.empty()) {
      std::fprintf(stderr, "ptl-demo: %s\n", runs[k].error.c_str());
      std::printf("no 429 with header sync: FAIL (the run did not complete: %s)\n",
                  runs[k].error.c_str());
      return 1;
    }
    an[k] = demo::analyze_tokens(p, items, runs[k]);
  }
  const bool pass = demo::print_tokens_verdict(stdout, p, runs, an);
  if (!o.svg.empty()) {
    std::string error;
    if (!demo::write_tokens_svg(p, runs, an, o.svg, &error)) {
      std::fprintf(stderr, "ptl-demo: --svg: %s\n", error.c_str());
      return 1;
    }
    std::printf("usage picture: %s\n", o.svg.c_str());
  }
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.child >= 0) return demo::run_child(o.params, static_cast<uint32_t>(o.child));
  if (o.is_adaptive) return run_adaptive(o);
  if (o.is_tokens) return run_tokens(o);
  if (!o.json) demo::print_text_header(stdout, o.params);

  const demo::RunResult run = o.params.processes > 1
                                  ? demo::run_processes(o.params, o.json ? nullptr : stdout)
                                  : demo::run_scenario(o.params);
  if (!run.error.empty()) {
    // A failed call or process leaves the record incomplete, so no verdict is drawn from it.
    std::fprintf(stderr, "ptl-demo: %s\n", run.error.c_str());
    if (o.json)
      demo::print_json_error(stdout, run.error);  // still one JSON object
    else
      std::printf("never over quota: FAIL (the run did not complete: %s)\n", run.error.c_str());
    return 1;
  }
  const demo::Analysis a = demo::analyze(o.params, run);
  if (o.json)
    demo::print_json(stdout, o.params, run, a);
  else
    demo::print_text(stdout, o.params, run, a);
  if (!o.svg.empty() && !write_svg(o, demo::timeline_picture(o.params, run, a))) return 1;
  return a.never_over_quota() ? 0 : 1;
}
