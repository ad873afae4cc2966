// SPDX-License-Identifier: MIT
#include "demo_args.hpp"

#include <pocketflow_throttled/ptl.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "processes.hpp"

namespace demo {
namespace {

// printf into a std::string: the help text states the defaults of the Params structs.
template <typename... Args>
std::string format(const char* pattern, Args... args) {
  char buf[1024];
  std::snprintf(buf, sizeof buf, pattern, args...);
  return buf;
}

std::string got(const std::string& text) {
  return ", got '" + text + "'";
}

// Whole-string unsigned parse in [min, max]: "12x", "-1", "" and overflow are all errors.
bool parse_u64(const std::string& s, unsigned long long min, unsigned long long max,
               unsigned long long* out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

// Finite and positive; a scale of 1e6 already turns a minute into 60 us.
bool parse_scale(const std::string& s, double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || errno != 0 || *end != '\0' || !std::isfinite(v) || v <= 0 || v > 1e6)
    return false;
  *out = v;
  return true;
}

// The command line as text; the values are checked after parsing (check_values), so that
// every message has the same form.
struct Raw {
  std::string uri, processes, time_scale, items, seed, svg, scenario, hidden_limit, child;
  bool json = false, adaptive = false;
};

std::string description() {
  const Params d;
  return format(
      "Two services (%s, %s), each a ThrottledParallelBatchFlow\n"
      "running up to %u item instances at once, share the limiter \"%s\": %u\n"
      "concurrent, %llu per %g s, registered once in the default registry\n"
      "(PTL_REGISTRY_URI) or in --uri. Each mock LLM call sleeps %g-%g ms under a\n"
      "permit. The run is recorded and checked: peak concurrency, most grants in any\n"
      "window-length span (sliding), makespan against its theoretical lower bound.",
      kServiceNames[0], kServiceNames[1], d.flows_at_once, kLimiterName, d.max_concurrent,
      static_cast<unsigned long long>(d.max_per_window), d.nominal_window_s, d.nominal_call_min_ms,
      d.nominal_call_max_ms);
}

void add_options(CLI::App* app, Raw* raw) {
  const Params d;
  const AdaptiveParams ad;
  const TokensParams tk;
  app->add_option("--uri", raw->uri,
                  format("the registry where \"%s\" lives: local: (a private one),\n"
                         "shm://NAME (processes of this host) or redis://HOST:PORT;\n"
                         "registered afresh there and removed at the end",
                         kLimiterName))
      ->type_name("URI");
  app->add_option("--processes", raw->processes,
                  format("run the services in N child processes (1..%u; 1, the\n"
                         "default: in this process); child k runs service k %% 2;\n"
                         "all share --uri, which must be shm:// or redis://",
                         kMaxProcesses))
      ->type_name("N");
  app->add_flag("--adaptive", raw->adaptive, "the same as --scenario adaptive");
  app->add_option(
         "--scenario", raw->scenario,
         format("services (the default: the above); adaptive: one adaptive\n"
                "batch of %u items meets an API that accepts only\n"
                "--hidden-limit calls in flight and answers 429 to more;\n"
                "tokens: the services share %llu requests and %llu tokens\n"
                "per %g s against a mock provider with x-ratelimit-* headers,\n"
                "played without and with header sync (time scale %g)",
                ad.items, static_cast<unsigned long long>(tk.max_requests),
                static_cast<unsigned long long>(tk.max_tokens), tk.nominal_window_s, tk.time_scale))
      ->type_name("S");
  app->add_option("--hidden-limit", raw->hidden_limit,
                  format("adaptive: the API's hidden limit, 1..1000 (default %u)", ad.hidden_limit))
      ->type_name("N");
  app->add_option("--time-scale", raw->time_scale,
                  format("divide every duration, window included, by X, 0 < X <= 1e6\n"
                         "(default %g: the %g s window lasts %g s; adaptive %g)",
                         d.time_scale, d.nominal_window_s, d.window_s(), ad.time_scale))
      ->type_name("X");
  app->add_option("--items", raw->items,
                  format("items per service, 1..1000000 (default %u); adaptive: items\n"
                         "of the batch (default %u)",
                         d.items_per_service, ad.items))
      ->type_name("N");
  app->add_option("--seed", raw->seed,
                  format("seed of the call durations (default %llu)",
                         static_cast<unsigned long long>(d.seed)))
      ->type_name("S");
  app->add_flag("--json", raw->json, "print the report as one JSON object (services only)");
  app->add_option("--svg", raw->svg, "also draw the run's timeline into FILE (SVG)")
      ->type_name("FILE");
  app->add_option(kChildFlag, raw->child)->group("");  // internal: a --processes child
}

// Converts the values given; "" or "OPTION: expected ..., got '...'".
std::string check_values(const CLI::App& app, const Raw& raw, Options* o) {
  const auto given = [&app](const char* name) { return app.count(name) > 0; };
  unsigned long long n = 0;
  if (given("--time-scale")) {
    if (!parse_scale(raw.time_scale, &o->params.time_scale))
      return "--time-scale: expected a number > 0 and <= 1e6" + got(raw.time_scale);
    o->adaptive.time_scale = o->tokens.time_scale = o->params.time_scale;
  }
  if (given("--items")) {
    if (!parse_u64(raw.items, 1, 1'000'000, &n))
      return "--items: expected an integer 1..1000000" + got(raw.items);
    o->params.items_per_service = o->adaptive.items = o->tokens.items_per_service =
        static_cast<uint32_t>(n);
  }
  if (given("--seed")) {
    if (!parse_u64(raw.seed, 0, UINT64_MAX, &n))
      return "--seed: expected a non-negative integer" + got(raw.seed);
    o->params.seed = o->adaptive.seed = o->tokens.seed = n;
  }
  if (given("--uri") && raw.uri.empty()) return "--uri: expected a registry URI" + got("");
  o->params.uri = raw.uri;
  if (given("--processes")) {
    if (!parse_u64(raw.processes, 1, kMaxProcesses, &n))
      return "--processes: expected an integer 1.." + std::to_string(kMaxProcesses) +
             got(raw.processes);
    o->params.processes = static_cast<uint32_t>(n);
  }
  if (given("--hidden-limit")) {
    if (!parse_u64(raw.hidden_limit, 1, 1000, &n))
      return "--hidden-limit: expected an integer 1..1000" + got(raw.hidden_limit);
    o->adaptive.hidden_limit = static_cast<uint32_t>(n);
  }
  if (given(kChildFlag)) {
    if (!parse_u64(raw.child, 0, kMaxProcesses - 1, &n))
      return std::string(kChildFlag) + ": expected 0.." + std::to_string(kMaxProcesses - 1) +
             got(raw.child);
    o->child = static_cast<int64_t>(n);
  }
  if (given("--svg") && raw.svg.empty()) return "--svg: expected a file name" + got("");
  o->svg = raw.svg;
  o->json = raw.json;
  o->is_adaptive = raw.adaptive || raw.scenario == "adaptive";
  o->is_tokens = raw.scenario == "tokens";
  if (given("--scenario") && !o->is_adaptive && !o->is_tokens && raw.scenario != "services")
    return "--scenario: expected services, adaptive or tokens" + got(raw.scenario);
  return "";
}

// The options that go together; "" or why not.
std::string check_combination(const CLI::App& app, const Options& o) {
  const bool hidden_limit_given = app.count("--hidden-limit") > 0;
  if (o.is_tokens && (o.is_adaptive || hidden_limit_given || o.json || !o.params.uri.empty() ||
                      o.params.processes > 1))
    return "--scenario tokens runs in one process on a private registry; it takes "
           "--time-scale, --items, --seed and --svg";
  if (hidden_limit_given && !o.is_adaptive) return "--hidden-limit goes with --adaptive";
  if (o.json && o.is_adaptive) return "--json reports the default scenario only";
  if (o.is_adaptive && (!o.params.uri.empty() || o.params.processes > 1))
    return "--adaptive runs in one process on the default registry; --uri and --processes "
           "go with the default scenario";
  if (std::string why = processes_refusal(o.params); !why.empty()) return why;
  if (o.params.processes > 2 * o.params.items_per_service)
    return "--processes " + std::to_string(o.params.processes) +
           " leaves a process without items: at most 2 x --items";
  if (o.child >= 0 && (o.params.processes < 2 || o.child >= o.params.processes))
    return std::string(kChildFlag) + " is internal to --processes";
  return "";
}

ParsedArgs usage_error(const std::string& what) {
  return {std::nullopt, "ptl-demo: " + what + "\nRun 'ptl-demo --help' for usage.\n", 2};
}

}  // namespace

ParsedArgs parse_args(int argc, char** argv) {
  CLI::App app(description(), "ptl-demo");
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag(
      "--version", [] { return std::string("ptl-demo ") + ptl_version_string(); },
      "print the name and the library version");
  app.footer(
      "Exit status: 0 never over quota (--adaptive: the verdict holds), 1 over quota, a failed\n"
      "call or a failed process, 2 bad usage.");
  // Extras are collected rather than thrown, to be named in the message's own form; a
  // repeated option takes its last value, as before CLI11.
  app.allow_extras();
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  Raw raw;
  add_options(&app, &raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // The hidden option's group ends the option list with a second blank line (CLI11 2.1).
    std::string help = app.help();
    if (const size_t at = help.find("\n\n\n"); at != std::string::npos) help.erase(at, 1);
    return {std::nullopt, help, 0};
  } catch (const CLI::CallForVersion& e) {
    return {std::nullopt, std::string(e.what()) + "\n", 0};
  } catch (const CLI::ArgumentMismatch& e) {
    const std::string what = e.what();
    return usage_error(what.substr(0, what.find_first_of(": ")) + " needs a value");
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  if (const std::vector<std::string> extras = app.remaining(); !extras.empty()) {
    const bool option = extras.front().rfind('-', 0) == 0;
    return usage_error((option ? "unknown option '" : "unexpected argument '") + extras.front() +
                       "'");
  }
  Options o;
  if (std::string why = check_values(app, raw, &o); !why.empty()) return usage_error(why);
  if (std::string why = check_combination(app, o); !why.empty()) return usage_error(why);
  return {o, "", 0};
}

}  // namespace demo
