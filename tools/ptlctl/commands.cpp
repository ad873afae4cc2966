// SPDX-License-Identifier: MIT
#include "commands.hpp"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "output.hpp"

namespace ptlctl {
namespace {

struct Listed {
  std::string name;
  ptl_limiter_stats stats;
  std::vector<LimitUsage> limits;
};

int collect(void* user, const char* name, const ptl_limiter_config* /*cfg*/) {
  static_cast<std::vector<Listed>*>(user)->push_back({name, {}, {}});
  return 0;
}

ptl_limiter_stats empty_stats() {
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  return s;
}

std::vector<std::string> state_cells(const ptl_limiter_stats& s) {
  return {std::to_string(s.in_flight) + "/" + std::to_string(s.config.max_concurrent),
          used_of(s.current_window_count, s.config.max_per_window), std::to_string(s.waiting)};
}

// Every limit of `name`'s policy with its state. PTL_OK, or the failed call's status.
int read_policy(ptl_registry* reg, const std::string& name, std::vector<LimitUsage>* out) {
  ptl_limiter* lim = nullptr;
  if (const int rc = ptl_registry_get(reg, name.c_str(), &lim); rc != PTL_OK) return rc;
  ptl_limit limits[PTL_MAX_LIMITS];
  size_t n = 0;
  int rc = ptl_limiter_get_policy(lim, limits, PTL_MAX_LIMITS, &n);
  out->clear();
  for (size_t i = 0; rc == PTL_OK && i < std::min<size_t>(n, PTL_MAX_LIMITS); ++i) {
    LimitUsage l;
    l.limit = limits[i];
    l.usage.struct_size = sizeof l.usage;
    rc = ptl_limiter_usage(lim, l.limit.unit, l.limit.window_ns, &l.usage);
    out->push_back(l);
  }
  ptl_limiter_unref(lim);
  return rc;
}

// The policy as a table: one row per limit.
void print_limits(const std::vector<LimitUsage>& limits) {
  Table table({"UNIT", "WINDOW", "USED", "OBSERVED_CAP", "NEXT_ROOM"});
  for (const LimitUsage& l : limits) {
    const ptl_usage& u = l.usage;
    table.add({l.limit.unit, window_text(l.limit.window_ns), used_of(u.used, l.limit.max),
               u.observed_cap == UINT64_MAX ? "-" : std::to_string(u.observed_cap),
               next_room_text(u.next_room_ns)});
  }
  table.print(stdout);
}

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string wall_clock() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  localtime_r(&ts.tv_sec, &local);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03ld", local.tm_hour, local.tm_min, local.tm_sec,
                ts.tv_nsec / 1000000);
  return buf;
}

// A sample's wall-clock time for watch --json: RFC 3339 in UTC with milliseconds
// ("2026-12-07T23:59:58.123Z", sorts as text, read by every date library) and the same
// instant in Unix milliseconds (for arithmetic without a date parser).
std::string time_fields(const timespec& now) {
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  const long ms = now.tv_nsec / 1000000;
  char buf[96];
  std::snprintf(buf, sizeof buf,
                "\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"unix_ms\":%lld",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, ms, static_cast<long long>(now.tv_sec) * 1000 + ms);
  return buf;
}

// Waits `seconds` or until SIGINT/SIGTERM (blocked by main for watch); true if signalled.
bool wait_or_signal(double seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  const double deadline = monotonic_seconds() + seconds;
  for (;;) {
    if (sigtimedwait(&set, nullptr, &ts) > 0) return true;
    // EINTR from another signal: wait out the rest of the interval.
    const double left = deadline - monotonic_seconds();
    if (left <= 0) return false;
    ts.tv_sec = static_cast<time_t>(left);
    ts.tv_nsec = static_cast<long>((left - static_cast<double>(ts.tv_sec)) * 1e9);
  }
}

}  // namespace

int report_failure(const char* what, int status) {
  std::fprintf(stderr, "ptlctl: %s: %s: %s\n", what, ptl_status_name(status), ptl_last_error());
  return 1;
}

int list(ptl_registry* reg, const Options& opts) {
  std::vector<Listed> limiters;
  if (const int rc = ptl_registry_list(reg, collect, &limiters); rc != PTL_OK) {
    return report_failure("list", rc);
  }
  // A limiter removed between the listing and its stats is left out, not an error.
  std::vector<Listed> present;
  for (Listed& l : limiters) {
    l.stats = empty_stats();
    if (ptl_registry_stats(reg, l.name.c_str(), &l.stats) == PTL_OK &&
        read_policy(reg, l.name, &l.limits) == PTL_OK) {
      present.push_back(l);
    }
  }
  if (opts.json) {
    std::string out = "[";
    for (size_t i = 0; i < present.size(); ++i) {
      if (i != 0) out += ',';
      out += stats_json(present[i].name, present[i].stats, &present[i].limits);
    }
    std::printf("%s]\n", out.c_str());
    return 0;
  }
  Table table({"NAME", "IN_FLIGHT", "WINDOW", "WAITING", "WINDOW_S", "COST", "ACQUIRED", "POLICY"});
  for (const Listed& l : present) {
    std::vector<std::string> row = {l.name};
    for (std::string& cell : state_cells(l.stats)) row.push_back(std::move(cell));
    row.push_back(number(l.stats.config.window_seconds));
    row.push_back(used_of(l.stats.current_window_cost, l.stats.config.max_cost_per_window));
    row.push_back(std::to_string(l.stats.total_acquired));
    row.push_back(policy_text(l.limits));
    table.add(std::move(row));
  }
  table.print(stdout);
  return 0;
}

int stats(ptl_registry* reg, const Options& opts) {
  ptl_limiter_stats s = empty_stats();
  if (const int rc = ptl_registry_stats(reg, opts.name.c_str(), &s); rc != PTL_OK) {
    return report_failure(opts.name.c_str(), rc);
  }
  std::vector<LimitUsage> limits;
  if (const int rc = read_policy(reg, opts.name, &limits); rc != PTL_OK) {
    return report_failure(opts.name.c_str(), rc);
  }
  if (opts.json) {
    std::printf("%s\n", stats_json(opts.name, s, &limits).c_str());
    return 0;
  }
  const ptl_limiter_config& c = s.config;
  Table table({"name", opts.name});
  table.add({"in_flight", used_of(s.in_flight, c.max_concurrent)});
  table.add({"window", used_of(s.current_window_count, c.max_per_window) + " per " +
                           number(c.window_seconds) + " s"});
  table.add({"window_cost", used_of(s.current_window_cost, c.max_cost_per_window)});
  table.add({"waiting", std::to_string(s.waiting)});
  table.add({"total_acquired", std::to_string(s.total_acquired)});
  table.add({"total_timeouts", std::to_string(s.total_timeouts)});
  table.add({"total_cancelled", std::to_string(s.total_cancelled)});
  table.add({"total_rejected", std::to_string(s.total_rejected)});
  table.add({"total_wait_s", number(static_cast<double>(s.total_wait_ns) / 1e9)});
  table.print(stdout);
  std::printf("\n");
  print_limits(limits);
  return 0;
}

int watch(ptl_registry* reg, const Options& opts) {
  ptl_limiter_stats prev = empty_stats();
  if (const int rc = ptl_registry_stats(reg, opts.name.c_str(), &prev); rc != PTL_OK) {
    return report_failure(opts.name.c_str(), rc);
  }
  double prev_time = monotonic_seconds();
  if (!opts.json) {
    std::printf("%-12s  %-9s  %-11s  %-7s  %s\n", "TIME", "IN_FLIGHT", "WINDOW", "WAITING",
                "GRANTS/S");
    std::fflush(stdout);
  }
  for (uint64_t line = 0; !opts.count || line < *opts.count; ++line) {
    if (wait_or_signal(opts.interval_seconds)) return 0;
    ptl_limiter_stats now = empty_stats();
    if (const int rc = ptl_registry_stats(reg, opts.name.c_str(), &now); rc != PTL_OK) {
      return report_failure(opts.name.c_str(), rc);
    }
    const double t = monotonic_seconds();
    timespec sampled{};
    clock_gettime(CLOCK_REALTIME, &sampled);
    // Counters only grow, unless the limiter was removed and registered again.
    const uint64_t granted =
        now.total_acquired >= prev.total_acquired ? now.total_acquired - prev.total_acquired : 0;
    const double rate = static_cast<double>(granted) / (t - prev_time);
    if (opts.json) {
      std::string obj = stats_json(opts.name, now);
      obj.pop_back();
      char extra[64];
      std::snprintf(extra, sizeof extra, ",\"grants_per_second\":%.1f,", rate);
      std::printf("%s%s%s}\n", obj.c_str(), extra, time_fields(sampled).c_str());
    } else {
      const std::vector<std::string> cells = state_cells(now);
      std::printf("%-12s  %-9s  %-11s  %-7s  %.1f\n", wall_clock().c_str(), cells[0].c_str(),
                  cells[1].c_str(), cells[2].c_str(), rate);
    }
    std::fflush(stdout);
    prev = now;
    prev_time = t;
  }
  return 0;
}

// register with a whole policy: --limit ... or --preset-policy NAME.
int register_policy(ptl_registry* reg, const Options& opts) {
  ptl_policy policy;
  ptl_policy_init(&policy);
  std::vector<ptl_limit> limits;
  if (!opts.preset_policy.empty()) {
    ptl_preset_policy preset{};
    preset.struct_size = sizeof preset;
    if (const int rc = ptl_preset_policy_get(opts.preset_policy.c_str(), &preset); rc != PTL_OK) {
      report_failure("--preset-policy", rc);
      std::fprintf(stderr, "ptlctl: `ptlctl presets` lists the provider policies\n");
      return 1;
    }
    limits.assign(preset.limits, preset.limits + preset.n_limits);
  } else {
    for (const LimitArg& l : opts.limits) limits.push_back({l.unit.c_str(), l.max, l.window_ns});
  }
  policy.n_limits = static_cast<uint32_t>(limits.size());
  policy.limits = limits.data();
  const uint32_t flags = opts.replace ? PTL_REPLACE : 0u;
  if (const int rc = ptl_registry_register_policy(reg, opts.name.c_str(), &policy, flags);
      rc != PTL_OK) {
    return report_failure(opts.name.c_str(), rc);
  }
  return stats(reg, opts);
}

int register_limiter(ptl_registry* reg, const Options& opts) {
  if (!opts.limits.empty() || !opts.preset_policy.empty()) return register_policy(reg, opts);
  ptl_limiter_config cfg = opts.config;  // the given limits over the defaults
  if (opts.replace) {
    // Only the limits given change: the others are read back from the limiter.
    ptl_limiter_stats now = empty_stats();
    const int rc = ptl_registry_stats(reg, opts.name.c_str(), &now);
    if (rc == PTL_OK) {
      const ptl_limiter_config& c = now.config;
      if (!opts.given.max_concurrent) cfg.max_concurrent = c.max_concurrent;
      if (!opts.given.max_per_window) cfg.max_per_window = c.max_per_window;
      if (!opts.given.window) cfg.window_seconds = c.window_seconds;
      if (!opts.given.max_cost_per_window) cfg.max_cost_per_window = c.max_cost_per_window;
    } else if (rc != PTL_ENOTFOUND) {
      return report_failure(opts.name.c_str(), rc);
    } else if (!opts.given.max_concurrent) {
      std::fprintf(stderr,
                   "ptlctl: %s: PTL_ENOTFOUND: no limiter of that name to change; creating it "
                   "needs --max-concurrent N\n",
                   opts.name.c_str());
      return 1;
    }
  }
  const uint32_t flags = opts.replace ? PTL_REPLACE : 0u;
  if (const int rc = ptl_registry_register(reg, opts.name.c_str(), &cfg, flags); rc != PTL_OK) {
    return report_failure(opts.name.c_str(), rc);
  }
  return stats(reg, opts);
}

int remove(ptl_registry* reg, const Options& opts) {
  if (const int rc = ptl_registry_remove(reg, opts.name.c_str()); rc != PTL_OK) {
    return report_failure(opts.name.c_str(), rc);
  }
  if (opts.json) {
    std::printf("{\"removed\":%s}\n", json_string(opts.name).c_str());
  } else {
    std::printf("removed %s\n", opts.name.c_str());
  }
  return 0;
}

int presets(const Options& opts) {
  struct Row {
    std::string name, description;
    std::vector<LimitUsage> limits;
  };
  std::vector<Row> rows;
  const int rc = ptl_preset_policy_list(
      [](void* user, const ptl_preset_policy* p) -> int {
        Row row{p->name, p->description, {}};
        for (uint32_t i = 0; i < p->n_limits; ++i) row.limits.push_back({p->limits[i], {}});
        static_cast<std::vector<Row>*>(user)->push_back(std::move(row));
        return 0;
      },
      &rows);
  if (rc != PTL_OK) return report_failure("presets", rc);
  if (opts.json) {
    std::string out = "[";
    for (const Row& r : rows) {
      out += (out.size() > 1 ? ",{\"name\":" : "{\"name\":") + json_string(r.name) +
             ",\"description\":" + json_string(r.description) +
             ",\"limit_args\":" + json_string(policy_text(r.limits)) + "}";
    }
    std::printf("%s]\n", out.c_str());
    return 0;
  }
  Table table({"NAME", "POLICY", "DESCRIPTION"});
  for (const Row& r : rows) table.add({r.name, policy_text(r.limits), r.description});
  table.print(stdout);
  return 0;
}

int destroy(const std::string& uri, const std::string& shown, const Options& opts) {
  if (const int rc = ptl_registry_destroy(uri.c_str(), opts.force ? PTL_FORCE : 0u); rc != PTL_OK) {
    return report_failure(shown.c_str(), rc);
  }
  if (opts.json) {
    std::printf("{\"destroyed\":%s}\n", json_string(shown).c_str());
  } else {
    std::printf("destroyed %s\n", shown.c_str());
  }
  return 0;
}

}  // namespace ptlctl
