// SPDX-License-Identifier: MIT
// ptl-demo: two services share one "openai" quota through a registry (the default one,
// or --uri), in one process or in --processes N; the run is recorded and judged from the
// outside. Exit status: 0 the quota held, 1 it was exceeded (or a call or a process
// failed), 2 bad usage.
#include <cstdio>
#include <string>

#include "adaptive.hpp"
#include "demo_args.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "scenario.hpp"
#include "tokens.hpp"

namespace {

using demo::Options;

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
  const demo::ParsedArgs parsed = demo::parse_args(argc, argv);
  if (!parsed.options) {
    std::fputs(parsed.text.c_str(), parsed.exit_status == 0 ? stdout : stderr);
    return parsed.exit_status;
  }
  const Options& o = *parsed.options;
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
