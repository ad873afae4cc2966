// ptl-demo: two services share one "openai" quota through the default registry; the run is
// recorded and judged from the outside. Exit status: 0 the quota held, 1 it was exceeded
// (or a call failed), 2 bad usage.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "report.hpp"
#include "scenario.hpp"

namespace {

void usage(std::FILE* out) {
  const demo::Params d;
  std::fprintf(out,
               "usage: ptl-demo [--time-scale X] [--items N] [--seed S] [--json] [--help]\n"
               "\n"
               "Two services (%s, %s) with %u workers each share the limiter \"%s\":\n"
               "%u concurrent, %llu per %g s, registered once in the default registry\n"
               "(PTL_REGISTRY_URI). Each mock LLM call sleeps %g-%g ms. The run is recorded and\n"
               "checked: peak concurrency, most grants in any window-length span (sliding),\n"
               "makespan against its theoretical lower bound.\n"
               "\n"
               "  --time-scale X  divide every duration, window included, by X > 0 (default %g:\n"
               "                  the %g s window lasts %g s and the run about 10 s)\n"
               "  --items N       items per service, 1..1000000 (default %u; with 20, the\n"
               "                  original story, all grants fit in one window)\n"
               "  --seed S        seed of the call durations (default %llu)\n"
               "  --json          print the report as one JSON object\n"
               "  --help          print this help\n"
               "\n"
               "Exit status: 0 never over quota, 1 over quota or a failed call, 2 bad usage.\n",
               demo::kServiceNames[0], demo::kServiceNames[1], d.workers_per_service,
               demo::kLimiterName, d.max_concurrent,
               static_cast<unsigned long long>(d.max_per_window), d.nominal_window_s,
               d.nominal_call_min_ms, d.nominal_call_max_ms, d.time_scale, d.nominal_window_s,
               d.window_s(), d.items_per_service, static_cast<unsigned long long>(d.seed));
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
  bool json = false;
};

Options parse(int argc, char** argv) {
  Options o;
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
    } else if (arg == "--time-scale") {
      const std::string v = take_value();
      if (!parse_scale(v.c_str(), &o.params.time_scale))
        bad_usage("--time-scale: want a number > 0 and <= 1e6, got '" + v + "'");
    } else if (arg == "--items") {
      const std::string v = take_value();
      unsigned long long n = 0;
      if (!parse_u64(v.c_str(), 1'000'000, &n) || n == 0)
        bad_usage("--items: want an integer 1..1000000, got '" + v + "'");
      o.params.items_per_service = static_cast<uint32_t>(n);
    } else if (arg == "--seed") {
      const std::string v = take_value();
      unsigned long long s = 0;
      if (!parse_u64(v.c_str(), UINT64_MAX, &s))
        bad_usage("--seed: want an unsigned integer, got '" + v + "'");
      o.params.seed = s;
    } else {
      bad_usage("unknown option '" + std::string(argv[i]) + "'");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (!o.json) demo::print_text_header(stdout, o.params);

  const demo::RunResult run = demo::run_scenario(o.params);
  if (!run.error.empty()) {
    // A failed call leaves the record incomplete, so no verdict is drawn from it.
    std::fprintf(stderr, "ptl-demo: %s\n", run.error.c_str());
    if (o.json) demo::print_json_error(stdout, run.error);  // still one JSON object
    return 1;
  }
  const demo::Analysis a = demo::analyze(o.params, run);
  if (o.json)
    demo::print_json(stdout, o.params, run, a);
  else
    demo::print_text(stdout, o.params, run, a);
  return a.never_over_quota() ? 0 : 1;
}
