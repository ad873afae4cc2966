// SPDX-License-Identifier: MIT
#include "args.hpp"

#include <CLI/CLI.hpp>
#include <utility>

namespace ptlctl {
namespace {

constexpr const char* kUriHelp =
    "the registry: shm://NAME[?mode=0600&create=0|1] or\n"
    "redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=P]\n"
    "(default: $PTL_REGISTRY_URI)";

constexpr const char* kFooter =
    "Exit status: 0 done, 1 the registry refused or failed (message on stderr), 2 bad usage.";

constexpr const char* kTopFooter =
    "list, stats, watch and remove never create an shm:// segment (they add create=0).\n"
    "Run 'ptlctl COMMAND --help' for the options of a command.\n"
    "Exit status: 0 done, 1 the registry refused or failed (message on stderr), 2 bad usage.";

constexpr const char* kRegisterFooter =
    "Give the limits one way: the 0.1 limits (--max-concurrent, needed to create, and\n"
    "--max-per-window, --window, --max-cost-per-window), or a policy: one --limit per limit,\n"
    "all admitted together (e.g. --limit requests:500/1m --limit tokens:30000/1m\n"
    "--limit requests:10), or --preset-policy NAME ('ptlctl presets' lists them).\n"
    "--replace changes only the 0.1 limits given, in place (permits and history still\n"
    "count), and creates the limiter if absent when --max-concurrent is given; with --limit\n"
    "or --preset-policy the policy given replaces the whole policy.\n";

// The command line as text: values are checked after parsing, so that every message has
// one format naming the command, the option and what was expected (CLI11's own conversion
// errors do not say what was expected).
struct Raw {
  std::string uri, name;
  bool json = false, replace = false, force = false;
  std::string max_concurrent, max_per_window, window, max_cost_per_window, interval, count;
  std::vector<std::string> limits, preset_policy;
};

std::string version_text() {
  return std::string("ptlctl ") + ptl_version_string();
}

bool given(const CLI::App* app, const char* option) {
  const CLI::Option* o = app->get_option_no_throw(option);
  return o != nullptr && o->count() > 0;
}

// "--max-concurrent: 1 required TEXT missing" (CLI11 2.1) -> "--max-concurrent".
std::string option_named_in(const std::string& message) {
  return message.substr(0, message.find_first_of(": "));
}

class CommandLine {
 public:
  CommandLine();
  Parsed parse(int argc, char** argv);

 private:
  CLI::App* add_command(Command command, const char* name, const char* description);
  void add_name(CLI::App* sub);
  void add_registry_options(CLI::App* sub);
  void add_register_options(CLI::App* sub);
  void add_watch_options(CLI::App* sub);

  Parsed parse_error(const CLI::ParseError& e) const;
  std::string extras_error(const CLI::App* sub) const;
  std::string values_error(const CLI::App* sub, Options* opts) const;
  static std::string consistency_error(const Options& opts);

  CLI::App app_{"Watches and administers the limiters of a shared registry.", "ptlctl"};
  Raw raw_;
  std::vector<std::pair<CLI::App*, Command>> commands_;
};

CommandLine::CommandLine() {
  // Extras are collected, not thrown, so that the message can say which command an option
  // belongs to; a repeated option takes its last value, as before CLI11.
  app_.allow_extras();
  app_.set_help_flag("-h,--help", "print this help and exit");
  app_.get_formatter()->label("SUBCOMMAND", "COMMAND");
  app_.get_formatter()->label("Subcommands", "Commands");
  app_.require_subcommand(0, 1);
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.set_version_flag("--version", version_text, "print the name and the library version");
  app_.add_option("--uri", raw_.uri, kUriHelp)->type_name("URI");
  app_.add_flag("--json", raw_.json, "JSON instead of a table");
  app_.footer(kTopFooter);

  CLI::App* list = add_command(Command::kList, "list", "every limiter: use, waiting and policy");
  add_registry_options(list);
  CLI::App* stats = add_command(Command::kStats, "stats", "one limiter's limits, state, counters");
  stats->footer(
      std::string("Also a table of every limit of the policy: unit, window (or held), used/max,\n"
                  "observed cap and next room.\n") +
      kFooter);
  add_name(stats);
  add_registry_options(stats);
  CLI::App* watch = add_command(Command::kWatch, "watch", "a line per interval until Ctrl-C");
  add_name(watch);
  add_registry_options(watch);
  add_watch_options(watch);
  watch->footer(
      std::string("Each line: in flight, window use, waiting, grants per second; with --json one\n"
                  "object per line with the time of the sample (\"time\", RFC 3339 UTC, and\n"
                  "\"unix_ms\").\n") +
      kFooter);
  CLI::App* reg =
      add_command(Command::kRegister, "register", "creates or (--replace) changes a limiter");
  add_name(reg);
  add_registry_options(reg);
  add_register_options(reg);
  reg->footer(std::string(kRegisterFooter) + kFooter);
  CLI::App* remove = add_command(Command::kRemove, "remove", "removes a limiter");
  add_name(remove);
  add_registry_options(remove);
  CLI::App* destroy =
      add_command(Command::kDestroy, "destroy", "deletes the shm:// segment of --uri");
  add_registry_options(destroy);
  destroy->footer(std::string("Refused while other processes are attached, unless --force.\n") +
                  kFooter);
  destroy->add_flag("--force", raw_.force, "delete even while processes are attached");
  CLI::App* presets =
      add_command(Command::kPresets, "presets", "provider policies for --preset-policy");
  presets->add_flag("--json", raw_.json, "JSON instead of a table");
  // Accepted as every command accepts it ($PTL_REGISTRY_URI scripts), though unused here.
  presets->add_option("--uri", raw_.uri, "unused: presets needs no registry")->type_name("URI");
}

CLI::App* CommandLine::add_command(Command command, const char* name, const char* description) {
  CLI::App* sub = app_.add_subcommand(name, description);
  sub->set_version_flag("--version", version_text, "print the name and the library version");
  sub->footer(kFooter);
  commands_.emplace_back(sub, command);
  return sub;
}

void CommandLine::add_name(CLI::App* sub) {
  sub->add_option("NAME", raw_.name, "the limiter's name")->type_name("");
}

void CommandLine::add_registry_options(CLI::App* sub) {
  sub->add_option("--uri", raw_.uri, kUriHelp)->type_name("URI");
  sub->add_flag("--json", raw_.json, "JSON instead of a table");
}

void CommandLine::add_register_options(CLI::App* sub) {
  sub->add_option("--max-concurrent", raw_.max_concurrent, "permits held at once (1..2^32-1)")
      ->type_name("N");
  sub->add_option("--max-per-window", raw_.max_per_window, "grants per window (0: no limit)")
      ->type_name("N");
  sub->add_option("--window", raw_.window, "the window's length in seconds (default 60)")
      ->type_name("S");
  sub->add_option("--max-cost-per-window", raw_.max_cost_per_window,
                  "cost per window (0: no limit)")
      ->type_name("N");
  sub->add_option("--limit", raw_.limits,
                  "one limit of a policy, repeated; WINDOW like 500ms, 60s,\n"
                  "1m, 24h (none: at most MAX held at once)")
      ->type_name("UNIT:MAX[/WINDOW]")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  sub->add_option("--preset-policy", raw_.preset_policy,
                  "a provider policy by name (e.g. openai_tier1_gpt_4o)")
      ->type_name("NAME")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  sub->add_flag("--replace", raw_.replace, "change the limiter in place");
}

void CommandLine::add_watch_options(CLI::App* sub) {
  sub->add_option("--interval", raw_.interval, "seconds between lines (default 1)")->type_name("S");
  sub->add_option("--count", raw_.count, "print N lines, then exit")->type_name("N");
}

// "ptlctl: register: WHAT" and where the help is; status 2. `where` null: the top level.
Parsed usage_error(const CLI::App* where, const std::string& what) {
  const std::string command = where == nullptr ? "" : where->get_name() + " ";
  return {std::nullopt,
          "ptlctl: " + (where == nullptr ? "" : where->get_name() + ": ") + what +
              "\nRun 'ptlctl " + command + "--help' for usage.\n",
          2};
}

Parsed CommandLine::parse_error(const CLI::ParseError& e) const {
  if (dynamic_cast<const CLI::CallForHelp*>(&e) != nullptr ||
      dynamic_cast<const CLI::CallForAllHelp*>(&e) != nullptr) {
    return {std::nullopt, app_.help(), 0};  // the selected command's help, if any
  }
  if (dynamic_cast<const CLI::CallForVersion*>(&e) != nullptr) {
    return {std::nullopt, std::string(e.what()) + "\n", 0};
  }
  std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    what = option_named_in(what) + " needs a value";
  }
  const auto selected = app_.get_subcommands();
  return usage_error(selected.empty() ? nullptr : selected.front(), what);
}

// The first word no option or argument of `sub` took, as a message ("" if none). An option
// of another command is named as such rather than ignored.
std::string CommandLine::extras_error(const CLI::App* sub) const {
  std::vector<std::string> extras = sub->remaining();
  for (const std::string& word : app_.remaining()) extras.push_back(word);
  if (extras.empty()) return "";
  const std::string& word = extras.front();
  if (word.rfind('-', 0) != 0) {
    return "unexpected argument '" + word + "'" +
           (sub->get_name() == "destroy" ? ": destroy deletes the segment that --uri names" : "");
  }
  const std::string option = word.substr(0, word.find('='));
  for (const auto& [other, command] : commands_) {
    if (other != sub && other->get_option_no_throw(option) != nullptr) {
      return option + " belongs to " + other->get_name() + ", not " + sub->get_name();
    }
  }
  return "unknown option " + option;
}

// Converts the values given to `sub` into `opts`; "" or the first problem.
std::string CommandLine::values_error(const CLI::App* sub, Options* opts) const {
  uint64_t n = 0;
  std::string why;
  const auto bad = [&why](const char* option) { return std::string(option) + ": " + why; };
  if (given(sub, "--max-concurrent")) {
    if (!(why = parse_count(raw_.max_concurrent, 1, UINT32_MAX, &n)).empty()) {
      return bad("--max-concurrent");
    }
    opts->config.max_concurrent = static_cast<uint32_t>(n);
    opts->given.max_concurrent = true;
  }
  if (given(sub, "--max-per-window")) {
    why = parse_count(raw_.max_per_window, 0, UINT64_MAX, &opts->config.max_per_window);
    if (!why.empty()) return bad("--max-per-window");
    opts->given.max_per_window = true;
  }
  if (given(sub, "--max-cost-per-window")) {
    why = parse_count(raw_.max_cost_per_window, 0, UINT64_MAX, &opts->config.max_cost_per_window);
    if (!why.empty()) return bad("--max-cost-per-window");
    opts->given.max_cost_per_window = true;
  }
  if (given(sub, "--window")) {
    if (!(why = parse_seconds(raw_.window, &opts->config.window_seconds)).empty()) {
      return bad("--window");
    }
    opts->given.window = true;
  }
  for (const std::string& text : raw_.limits) {
    LimitArg limit;
    if (!(why = parse_limit(text, &limit)).empty()) return bad("--limit");
    opts->limits.push_back(std::move(limit));
  }
  if (raw_.preset_policy.size() > 1) return "--preset-policy given twice: give one";
  if (!raw_.preset_policy.empty()) {
    opts->preset_policy = raw_.preset_policy.front();
    if (opts->preset_policy.empty()) return "--preset-policy: expected a NAME, got ''";
  }
  if (given(sub, "--interval") &&
      !(why = parse_seconds(raw_.interval, &opts->interval_seconds)).empty()) {
    return bad("--interval");
  }
  if (given(sub, "--count")) {
    if (!(why = parse_count(raw_.count, 1, UINT64_MAX, &n)).empty()) return bad("--count");
    opts->count = n;
  }
  return "";
}

// register's limits are given one way, and enough of them; "" or the problem.
std::string CommandLine::consistency_error(const Options& opts) {
  if (opts.command != Command::kRegister) return "";
  const bool limits = !opts.limits.empty();
  const bool preset = !opts.preset_policy.empty();
  // A policy is given whole, one way: never overlaid on 0.1 config flags.
  if (opts.given.any() && (limits || preset)) {
    return std::string(limits ? "--limit" : "--preset-policy") +
           " gives a whole policy: it does not mix with --max-concurrent, --max-per-window, "
           "--window or --max-cost-per-window";
  }
  if (limits && preset) return "--limit and --preset-policy do not mix: give one";
  // Creating needs the concurrency limit; --replace changes what is given (at least one).
  if (!opts.replace && !opts.given.max_concurrent && !limits && !preset) {
    return "expected --max-concurrent N, --limit UNIT:MAX[/WINDOW] or --preset-policy NAME";
  }
  if (opts.replace && !opts.given.any() && !limits && !preset) {
    return "--replace needs a limit to change (--max-concurrent, --max-per-window, --window, "
           "--max-cost-per-window, --limit or --preset-policy)";
  }
  return "";
}

Parsed CommandLine::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_error(e);
  }
  const auto selected = app_.get_subcommands();
  if (selected.empty()) {
    const std::vector<std::string> words = app_.remaining();
    if (words.empty()) {
      return usage_error(nullptr,
                         "expected a command: list, stats, watch, register, remove, destroy or "
                         "presets");
    }
    const bool option = words.front().rfind('-', 0) == 0;
    return usage_error(nullptr, (option ? "unknown option " : "unknown command '") + words.front() +
                                    (option ? "" : "'"));
  }
  const CLI::App* sub = selected.front();
  Options opts;
  ptl_limiter_config_init(&opts.config);
  for (const auto& [app, command] : commands_) {
    if (app == sub) opts.command = command;
  }
  if (std::string why = extras_error(sub); !why.empty()) return usage_error(sub, why);
  if (sub->get_option_no_throw("NAME") != nullptr && !given(sub, "NAME")) {
    return usage_error(sub, "expected a limiter NAME");
  }
  if (std::string why = values_error(sub, &opts); !why.empty()) return usage_error(sub, why);
  opts.uri = raw_.uri;
  opts.name = raw_.name;
  opts.json = raw_.json;
  opts.replace = raw_.replace;
  opts.force = raw_.force;
  if (std::string why = consistency_error(opts); !why.empty()) return usage_error(sub, why);
  return {std::move(opts), "", 0};
}

}  // namespace

Parsed parse(int argc, char** argv) {
  return CommandLine().parse(argc, argv);
}

}  // namespace ptlctl
