#include "args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>
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
    "  register NAME --replace LIMITS...\n"
    "                           changes only the given limits, in place (permits and\n"
    "                           history still count); creates the limiter if absent and\n"
    "                           --max-concurrent is given\n"
    "  remove NAME              removes a limiter\n"
    "  destroy [--force]        deletes the shm:// segment of --uri; refused while\n"
    "                           processes are attached, unless --force\n"
    "\n"
    "list, stats, watch and remove never create an shm:// segment (they add create=0).\n"
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

std::optional<Command> command_named(std::string_view word) {
  if (word == "list") return Command::kList;
  if (word == "stats") return Command::kStats;
  if (word == "watch") return Command::kWatch;
  if (word == "register") return Command::kRegister;
  if (word == "remove") return Command::kRemove;
  if (word == "destroy") return Command::kDestroy;
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
      return fail("no command given (list, stats, watch, register, remove, destroy)");
    }
    const std::optional<Command> command = command_named(words[0]);
    if (!command) return fail("unknown command '" + words[0] + "'");
    opts_.command = *command;
    if (*command == Command::kDestroy && words.size() > 1) {
      return fail("unexpected argument '" + words[1] +
                  "': destroy deletes the segment that --uri names");
    }
    const size_t wanted = *command == Command::kList || *command == Command::kDestroy ? 1 : 2;
    if (words.size() < wanted) return fail(words[0] + " needs a limiter NAME");
    if (words.size() > wanted) return fail("unexpected argument '" + words[wanted] + "'");
    if (wanted == 2) opts_.name = words[1];
    return true;
  }

  // Options that belong to one command are refused elsewhere rather than ignored.
  bool consistent() {
    const bool is_register = opts_.command == Command::kRegister;
    const bool is_watch = opts_.command == Command::kWatch;
    // Creating needs the concurrency limit; --replace changes what is given (at least one).
    if (is_register && !opts_.replace && !opts_.given.max_concurrent) {
      return fail("register needs --max-concurrent N");
    }
    if (is_register && opts_.replace && !opts_.given.any()) {
      return fail(
          "register --replace needs a limit to change (--max-concurrent, --max-per-window, "
          "--window or --max-cost-per-window)");
    }
    if (!is_register && (opts_.given.any() || opts_.replace)) {
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
