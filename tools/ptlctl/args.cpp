// SPDX-License-Identifier: MIT
#include "args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

namespace ptlctl {
namespace {

constexpr const char* kUsage =
    "usage: ptlctl [--uri URI] [--json] COMMAND [ARGS]\n"
    "\n"
    "Watches and administers the limiters of a shared registry.\n"
    "\n"
    "commands:\n"
    "  list                     every limiter: limits, in flight, window use, waiting\n"
    "  stats NAME               one limiter's limits, state and counters\n"
    "  watch NAME [--interval S] [--count N]\n"
    "                           a line per interval: in flight, window use, waiting,\n"
    "                           grants per second (until Ctrl-C, or N lines)\n"
    "  register NAME --max-concurrent N [--max-per-window N] [--window S]\n"
    "                [--max-cost-per-window N]\n"
    "                           creates a limiter; unset limits take the defaults\n"
    "  register NAME --limit UNIT:MAX[/WINDOW]...\n"
    "                           creates a limiter of a policy: one --limit per limit, all\n"
    "                           admitted together; WINDOW like 500ms, 60s, 1m, 24h (none:\n"
    "                           at most MAX held at once), e.g. --limit requests:500/1m\n"
    "                           --limit tokens:30000/1m --limit requests:10\n"
    "  register NAME --preset-policy NAME\n"
    "                           creates a limiter of a provider policy (openai_tier1_gpt_4o)\n"
    "  register NAME --replace LIMITS...\n"
    "                           changes only the given limits, in place (permits and\n"
    "                           history still count); creates the limiter if absent and\n"
    "                           --max-concurrent is given; with --limit or --preset-policy\n"
    "                           the policy given replaces the whole policy\n"
    "  remove NAME              removes a limiter\n"
    "  presets                  the provider policies for --preset-policy (no registry)\n"
    "  destroy [--force]        deletes the shm:// segment of --uri; refused while\n"
    "                           processes are attached, unless --force\n"
    "\n"
    "list, stats, watch and remove never create an shm:// segment (they add create=0).\n"
    "stats (and register) show every limit of the policy with its use, observed cap and\n"
    "next room; list shows each policy as its --limit arguments.\n"
    "\n"
    "options:\n"
    "  --uri URI    shm://NAME[?mode=0600&create=0|1] or\n"
    "               redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=P]\n"
    "               (default: $PTL_REGISTRY_URI)\n"
    "  --json       JSON instead of a table (watch: one object per line)\n"
    "  --help, --version\n"
    "\n"
    "exit status: 0 done, 1 the registry refused or failed (message on stderr), 2 bad usage\n";

// Whole-string unsigned parse; rejects signs, blanks, trailing text and overflow.
bool parse_u64(std::string_view text, uint64_t* out) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  const std::string s(text);
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

bool parse_seconds(std::string_view text, double* out) {
  if (text.empty()) return false;
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v <= 0) return false;
  *out = v;
  return true;
}

// A window: a number > 0 and a unit (ns, us, ms, s, m, h, d): "500ms", "60s", "1.5h".
bool parse_window(std::string_view text, int64_t* out) {
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
  const size_t digits = text.find_first_not_of("0123456789.");
  if (digits == 0 || digits == std::string_view::npos) return false;
  for (const auto& [unit, scale] : kUnits) {
    if (text.substr(digits) != unit) continue;
    const std::string number(text.substr(0, digits));
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !std::isfinite(v) || v <= 0) return false;
    const double ns = std::round(v * scale);
    if (ns < 1 || ns > 9.2e18) return false;
    *out = static_cast<int64_t>(ns);
    return true;
  }
  return false;
}

// UNIT:MAX[/WINDOW]; the message names what is wrong.
bool parse_limit(std::string_view text, LimitArg* out, std::string* why) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    *why = "'" + std::string(text) + "' is not UNIT:MAX[/WINDOW] (e.g. tokens:30000/1m)";
    return false;
  }
  const std::string_view unit = text.substr(0, colon);
  if (unit.empty() || unit.size() > 32 ||
      unit.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string_view::npos) {
    *why = "unit '" + std::string(unit) + "' is not 1 to 32 of [a-z0-9_]";
    return false;
  }
  const std::string_view rest = text.substr(colon + 1);
  const size_t slash = rest.find('/');
  const std::string_view max = rest.substr(0, slash);
  if (!parse_u64(max, &out->max) || out->max == 0) {
    *why = "max '" + std::string(max) + "' of " + std::string(unit) + " is not a whole number >= 1";
    return false;
  }
  out->window_ns = 0;
  if (slash != std::string_view::npos) {
    const std::string_view window = rest.substr(slash + 1);
    if (!parse_window(window, &out->window_ns)) {
      *why = "window '" + std::string(window) +
             "' is not a duration > 0 with a unit: 500ms, 60s, 1m, 24h";
      return false;
    }
  }
  out->unit = std::string(unit);
  return true;
}

std::optional<Command> command_named(std::string_view word) {
  if (word == "list") return Command::kList;
  if (word == "stats") return Command::kStats;
  if (word == "watch") return Command::kWatch;
  if (word == "register") return Command::kRegister;
  if (word == "remove") return Command::kRemove;
  if (word == "destroy") return Command::kDestroy;
  if (word == "presets") return Command::kPresets;
  return std::nullopt;
}

// Walks argv once; options take their value from the next word or after '='.
class Parser {
 public:
  Parser(int argc, char** argv) : args_(argv + 1, argv + argc) {
    ptl_limiter_config_init(&opts_.config);
  }

  std::optional<Options> run(UsageError* error) {
    std::vector<std::string> positional;
    for (i_ = 0; i_ < args_.size(); ++i_) {
      std::string arg = args_[i_];
      if (arg.rfind("--", 0) != 0 || arg == "--") {
        positional.push_back(arg);
        continue;
      }
      if (!option(arg)) {
        error->message = error_;
        return std::nullopt;
      }
      if (info_) {  // --help or --version: the rest does not matter
        opts_.command = *info_;
        return opts_;
      }
    }
    if (!positionals(positional) || !consistent()) {
      error->message = error_;
      return std::nullopt;
    }
    return opts_;
  }

 private:
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  // The value of option `name`: after '=' or the next word.
  bool value(const std::string& arg, const std::string& name, std::string* out) {
    if (arg.size() > name.size()) {
      *out = arg.substr(name.size() + 1);
      return true;
    }
    if (i_ + 1 >= args_.size()) return fail(name + " needs a value");
    *out = args_[++i_];
    return true;
  }

  bool u64_option(const std::string& arg, const std::string& name, uint64_t* out) {
    std::string v;
    if (!value(arg, name, &v)) return false;
    if (!parse_u64(v, out)) return fail(name + ": '" + v + "' is not a whole number >= 0");
    return true;
  }

  bool option(const std::string& arg) {
    const std::string name = arg.substr(0, arg.find('='));
    const bool has_value = name.size() < arg.size();
    const auto flag = [&](bool* out) {
      if (has_value) return fail(name + " takes no value");
      *out = true;
      return true;
    };
    std::string v;
    uint64_t n = 0;
    if (name == "--help" || name == "--version") {
      info_ = name == "--help" ? Command::kHelp : Command::kVersion;
      return true;
    }
    if (name == "--json") return flag(&opts_.json);
    if (name == "--replace") return flag(&opts_.replace);
    if (name == "--force") return flag(&opts_.force);
    if (name == "--uri") return value(arg, name, &opts_.uri);
    if (name == "--max-concurrent") {
      if (!u64_option(arg, name, &n)) return false;
      if (n == 0 || n > UINT32_MAX) return fail("--max-concurrent must be 1 to 4294967295");
      opts_.config.max_concurrent = static_cast<uint32_t>(n);
      opts_.given.max_concurrent = true;
      return true;
    }
    if (name == "--max-per-window") {
      opts_.given.max_per_window = true;
      return u64_option(arg, name, &opts_.config.max_per_window);
    }
    if (name == "--max-cost-per-window") {
      opts_.given.max_cost_per_window = true;
      return u64_option(arg, name, &opts_.config.max_cost_per_window);
    }
    if (name == "--window" || name == "--interval") {
      if (!value(arg, name, &v)) return false;
      const bool window = name == "--window";
      (window ? opts_.given.window : saw_interval_) = true;
      double* out = window ? &opts_.config.window_seconds : &opts_.interval_seconds;
      if (!parse_seconds(v, out))
        return fail(name + ": '" + v + "' is not a number of seconds > 0");
      return true;
    }
    if (name == "--limit") {
      if (!value(arg, name, &v)) return false;
      LimitArg limit;
      std::string why;
      if (!parse_limit(v, &limit, &why)) return fail("--limit: " + why);
      opts_.limits.push_back(std::move(limit));
      return true;
    }
    if (name == "--preset-policy") {
      if (!value(arg, name, &v)) return false;
      if (v.empty()) return fail("--preset-policy needs a NAME");
      if (!opts_.preset_policy.empty()) return fail("--preset-policy given twice");
      opts_.preset_policy = v;
      return true;
    }
    if (name == "--count") {
      if (!u64_option(arg, name, &n)) return false;
      if (n == 0) return fail("--count must be at least 1");
      opts_.count = n;
      return true;
    }
    return fail("unknown option " + name);
  }

  bool positionals(const std::vector<std::string>& words) {
    if (words.empty()) {
      return fail("no command given (list, stats, watch, register, remove, destroy, presets)");
    }
    const std::optional<Command> command = command_named(words[0]);
    if (!command) return fail("unknown command '" + words[0] + "'");
    opts_.command = *command;
    if (*command == Command::kDestroy && words.size() > 1) {
      return fail("unexpected argument '" + words[1] +
                  "': destroy deletes the segment that --uri names");
    }
    const bool no_name = *command == Command::kList || *command == Command::kDestroy ||
                         *command == Command::kPresets;
    const size_t wanted = no_name ? 1 : 2;
    if (words.size() < wanted) return fail(words[0] + " needs a limiter NAME");
    if (words.size() > wanted) return fail("unexpected argument '" + words[wanted] + "'");
    if (wanted == 2) opts_.name = words[1];
    return true;
  }

  // Options that belong to one command are refused elsewhere rather than ignored.
  bool consistent() {
    const bool is_register = opts_.command == Command::kRegister;
    const bool is_watch = opts_.command == Command::kWatch;
    const bool limits = !opts_.limits.empty();
    const bool preset = !opts_.preset_policy.empty();
    // A policy is given whole, one way: never overlaid on 0.1 config flags.
    if (opts_.given.any() && (limits || preset)) {
      return fail(std::string(limits ? "--limit" : "--preset-policy") +
                  " gives a whole policy: it does not mix with --max-concurrent, "
                  "--max-per-window, --window or --max-cost-per-window");
    }
    if (limits && preset) return fail("--limit and --preset-policy do not mix: give one");
    const bool policy = limits || preset;
    // Creating needs the concurrency limit; --replace changes what is given (at least one).
    if (is_register && !opts_.replace && !opts_.given.max_concurrent && !policy) {
      return fail(
          "register needs --max-concurrent N, --limit UNIT:MAX[/WINDOW] or "
          "--preset-policy NAME");
    }
    if (is_register && opts_.replace && !opts_.given.any() && !policy) {
      return fail(
          "register --replace needs a limit to change (--max-concurrent, --max-per-window, "
          "--window, --max-cost-per-window, --limit or --preset-policy)");
    }
    if (!is_register && (opts_.given.any() || opts_.replace || policy)) {
      return fail("limits and --replace belong to register");
    }
    const bool watch_given = opts_.count.has_value() || saw_interval_;
    if (!is_watch && watch_given) return fail("--interval and --count belong to watch");
    if (opts_.command != Command::kDestroy && opts_.force) {
      return fail("--force belongs to destroy");
    }
    return true;
  }

  std::vector<std::string> args_;
  size_t i_ = 0;
  Options opts_;
  bool saw_interval_ = false;
  std::optional<Command> info_;
  std::string error_;
};

}  // namespace

std::optional<Options> parse(int argc, char** argv, UsageError* error) {
  return Parser(argc, argv).run(error);
}

const char* usage() {
  return kUsage;
}

}  // namespace ptlctl
