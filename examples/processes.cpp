// SPDX-License-Identifier: MIT
// The parent of --processes N (see processes.hpp): registers "openai", starts the children,
// starts them together, merges their stamps, and never waits longer than its deadlines.
#include "processes.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pocketflow_throttled/ptl.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "demo_util.hpp"

extern char** environ;

namespace demo {
namespace {

constexpr int64_t kNsPerS = 1'000'000'000;
constexpr int64_t kReadyTimeoutNs = 30 * kNsPerS;  // open the registry, build the flows
constexpr int64_t kStartAheadNs = 50'000'000;      // "go" reaches every child before T0

struct Child {
  uint32_t k = 0;
  Slice slice;
  pid_t pid = -1;
  int to = -1, from = -1;  // the parent's ends of the child's stdin and stdout
  std::string buf;         // a partial line
  bool ready = false, done = false, eof = false, reaped = false;
  int status = 0;     // from waitpid, once reaped
  std::string error;  // its "error" line, or what the parent found wrong
  int64_t end_ns = 0;

  bool broken() const { return !error.empty() || (eof && !done); }
  std::string name() const {
    return "process " + std::to_string(k + 1) + " (pid " + std::to_string(pid) + ", " +
           kServiceNames[slice.service] + ")";
  }
};

std::string errtext(int e) {
  return std::generic_category().message(e);
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return "was killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) +
           ")";
  return "ended with wait status " + std::to_string(st);
}

// The child's argument list: the scenario's parameters and its role.
std::vector<std::string> child_args(const Params& p, uint32_t k) {
  char scale[40];
  std::snprintf(scale, sizeof scale, "%.17g", p.time_scale);
  std::vector<std::string> a = {"ptl-demo", kChildFlag, std::to_string(k)};
  a.insert(a.end(), {"--processes", std::to_string(p.processes), "--uri", p.uri});
  a.insert(a.end(), {"--time-scale", scale, "--items", std::to_string(p.items_per_service)});
  a.insert(a.end(), {"--seed", std::to_string(p.seed)});
  return a;
}

// Starts child k on two fresh pipes; throws std::runtime_error if it cannot.
void spawn(const Params& p, Child& c) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + errtext(errno));
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    throw std::runtime_error(std::string("pipe: ") + errtext(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);  // dup2 clears O_CLOEXEC
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t dflt;
  sigemptyset(&dflt);
  sigaddset(&dflt, SIGPIPE);  // the parent ignores it; a child must die of a parent gone
  posix_spawnattr_setsigdefault(&at, &dflt);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = child_args(p, c.k);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&c.pid, "/proc/self/exe", &fa, &at, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(in[0]);
  close(out[1]);
  c.to = in[1];
  c.from = out[0];
  if (rc != 0) {
    c.pid = -1;
    throw std::runtime_error(std::string("cannot start a child process: ") + errtext(rc));
  }
}

void parse_line(Child& c, const std::string& line, RunResult& res) {
  std::istringstream in(line);
  std::string head;
  in >> head;
  if (head == "ready") {
    c.ready = true;
  } else if (head == "item") {
    size_t i = 0;
    ItemRecord r;
    in >> i >> r.want_ns >> r.grant_ns >> r.release_ns;
    if (!in || i < c.slice.first || i >= c.slice.first + c.slice.count) {
      c.error = "sent a bad line: '" + line + "'";
      return;
    }
    ItemRecord& it = res.items[i];
    std::tie(it.want_ns, it.grant_ns, it.release_ns) =
        std::tie(r.want_ns, r.grant_ns, r.release_ns);
  } else if (head == "end") {
    in >> c.end_ns;
  } else if (head == "error") {
    c.error = line.size() > 6 ? line.substr(6) : "an unnamed error";
  } else if (head == "done") {
    c.done = true;
  } else {
    c.error = "sent a bad line: '" + line + "'";
  }
}

// Reads what the children write until `until` holds (true) or the deadline passes (false).
bool pump(std::vector<Child>& kids, int64_t deadline, const std::function<bool()>& until,
          RunResult& res) {
  while (!until()) {
    std::vector<pollfd> fds;
    std::vector<Child*> who;
    for (Child& c : kids)
      if (!c.eof) {
        fds.push_back({c.from, POLLIN, 0});
        who.push_back(&c);
      }
    if (fds.empty()) return true;  // every pipe closed: until() decides what that means
    const int64_t left = deadline - now_ns();
    if (left <= 0) return false;
    const int ms = static_cast<int>(std::min<int64_t>(left / 1'000'000 + 1, 1000));
    if (poll(fds.data(), fds.size(), ms) < 0 && errno != EINTR)
      throw std::runtime_error(std::string("poll: ") + errtext(errno));
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Child& c = *who[i];
      char buf[4096];
      const ssize_t n = read(c.from, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        c.eof = true;
        close_fd(c.from);
        continue;
      }
      c.buf.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = c.buf.find('\n')) != std::string::npos;) {
        parse_line(c, c.buf.substr(0, nl), res);
        c.buf.erase(0, nl + 1);
      }
    }
  }
  return true;
}

// Waits for every child to exit, until the deadline; then kills those still running.
void reap(std::vector<Child>& kids, int64_t deadline) {
  for (;;) {
    bool all = true;
    for (Child& c : kids) {
      if (c.pid <= 0 || c.reaped) continue;
      if (waitpid(c.pid, &c.status, WNOHANG) == c.pid)
        c.reaped = true;
      else
        all = false;
    }
    if (all) return;
    if (now_ns() >= deadline) break;
    sleep_until_ns(now_ns() + 5'000'000);
  }
  for (Child& c : kids)
    if (c.pid > 0 && !c.reaped) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &c.status, 0);
      c.reaped = true;
    }
}

// Children are never left behind, whatever ends the run.
struct Brood {
  std::vector<Child> kids;
  ~Brood() {
    for (Child& c : kids) {
      close_fd(c.to);
      close_fd(c.from);
      if (c.pid > 0 && !c.reaped) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
      }
    }
  }
  void stop_all() {
    for (Child& c : kids)
      if (c.pid > 0 && !c.reaped) kill(c.pid, SIGKILL);
    reap(kids, now_ns());
  }
};

// The peaks in flight from the stamps: spans [grant, release] that overlap. Each lies
// inside its permit's true span (stamped after acquire returned, before release was
// called), so more than max_concurrent overlapping is a proven overrun. Spans that only
// touch (one released at the instant another was granted) do not count as overlapping.
void peaks_from_stamps(RunResult& r) {
  std::vector<std::tuple<int64_t, int, int>> ev;  // time, -1 release / +1 grant, service
  for (const ItemRecord& it : r.items)
    if (it.grant_ns >= 0 && it.release_ns >= 0) {
      ev.emplace_back(it.grant_ns, +1, it.service);
      ev.emplace_back(it.release_ns, -1, it.service);
    }
  std::sort(ev.begin(), ev.end());  // at one instant, releases first
  int total = 0, per[kServices] = {0, 0};
  for (const auto& [t, d, s] : ev) {
    total += d;
    per[s] += d;
    r.peak_total_in_flight = std::max(r.peak_total_in_flight, static_cast<uint32_t>(total));
    r.peak_in_flight[s] = std::max(r.peak_in_flight[s], static_cast<uint32_t>(per[s]));
  }
}

// What went wrong with a broken child, once reaped.
std::string failure(const Child& c) {
  if (!c.error.empty()) return c.name() + ": " + c.error;
  return c.name() + " " + (c.reaped ? describe_status(c.status) : "closed its pipe") +
         (c.ready ? " during the run" : " before it was ready");
}

std::string item_range(const Params& p, const Slice& s) {
  const size_t first = s.first - size_t{p.items_per_service} * static_cast<size_t>(s.service);
  return "items " + std::to_string(first + 1) + "-" + std::to_string(first + s.count);
}

}  // namespace

std::string processes_refusal(const Params& p) {
  if (p.processes < 2) return "";
  if (p.uri.empty())
    return "--processes " + std::to_string(p.processes) +
           " needs --uri shm://NAME or --uri redis://HOST:PORT: the default registry lives in "
           "one process's memory, so separate processes would not share the quota";
  if (p.uri.rfind("local:", 0) == 0)
    return "--processes " + std::to_string(p.processes) + " cannot share '" + p.uri +
           "': a local: registry lives in one process's memory; use shm://NAME or "
           "redis://HOST:PORT";
  return "";
}

double run_timeout_s(const Params& p) {
  const double n = 2.0 * p.items_per_service;
  const double windows =
      p.max_per_window > 0 ? std::ceil(n / static_cast<double>(p.max_per_window)) : 1.0;
  const double work = n * p.nominal_call_max_ms * 1e-3 / p.time_scale / p.max_concurrent;
  return 10.0 + 3.0 * (windows * p.window_s() + work);
}

namespace {

// Starts the children, starts them together, collects their stamps into res and reaps
// them; res.error says what failed.
void run_children(const Params& p, RunResult& res, std::FILE* out) {
  Brood brood;
  auto& kids = brood.kids;
  for (uint32_t k = 0; k < p.processes; ++k) {
    kids.push_back({});
    kids.back().k = k;
    kids.back().slice = child_slice(p, k);
    spawn(p, kids.back());
  }
  if (out != nullptr) {
    for (const Child& c : kids)
      std::fprintf(out, "  process %u, pid %d: %s, %s, up to %u at once\n", c.k + 1, c.pid,
                   kServiceNames[c.slice.service], item_range(p, c.slice).c_str(), p.flows_at_once);
    std::fflush(out);
  }
  const auto any_broken = [&] {
    return std::any_of(kids.begin(), kids.end(), [](const Child& c) { return c.broken(); });
  };
  const auto all_ready = [&] {
    return any_broken() ||
           std::all_of(kids.begin(), kids.end(), [](const Child& c) { return c.ready; });
  };
  const auto all_ended = [&] {
    return any_broken() ||
           std::all_of(kids.begin(), kids.end(), [](const Child& c) { return c.eof; });
  };
  // Everyone ready, then one start moment for all, then every pipe closed.
  std::string timeout;
  if (!pump(kids, now_ns() + kReadyTimeoutNs, all_ready, res)) {
    timeout =
        "not every process was ready within " + std::to_string(kReadyTimeoutNs / kNsPerS) + " s";
  } else if (!any_broken()) {
    const int64_t t0 = now_ns() + kStartAheadNs;
    const std::string go = "go " + std::to_string(t0) + "\n";
    for (Child& c : kids) {
      if (write(c.to, go.data(), go.size()) != static_cast<ssize_t>(go.size()))
        c.error = std::string("could not be started: ") + errtext(errno);
      close_fd(c.to);
    }
    const double limit = run_timeout_s(p);
    if (!pump(kids, t0 + std::llround(limit * 1e9), all_ended, res)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "the run did not end within %.1f s", limit);
      timeout = buf;
    }
  }
  const auto culprit =
      std::find_if(kids.begin(), kids.end(), [](const Child& c) { return c.broken(); });
  if (!timeout.empty() || culprit != kids.end()) {
    std::string late;  // who had not finished when time ran out
    for (const Child& c : kids)
      if (!c.eof) late += (late.empty() ? " (still running: " : ", ") + c.name();
    if (!late.empty()) late += ")";
    brood.stop_all();  // the others would wait for nothing, or for a dead one's lease
    res.error = timeout.empty() ? failure(*culprit) : timeout + late;
    res.error += "; every process was stopped";
    return;
  }
  reap(kids, now_ns() + 10 * kNsPerS);
  for (const Child& c : kids) {
    if (res.error.empty() && c.status != 0) res.error = c.name() + " " + describe_status(c.status);
    res.end_ns = std::max(res.end_ns, c.end_ns);
  }
}

}  // namespace

RunResult run_processes(const Params& p, std::FILE* out) {
  RunResult res;
  res.items = blank_items(p);
  signal(SIGPIPE, SIG_IGN);  // a child that died is found by its pipe's end, not a signal
  try {
    ptl::Registry reg = ptl::Registry::open(p.uri);
    register_openai(reg, p, &res.registry_note);  // before any child looks it up
    try {
      run_children(p, res, out);
    } catch (const std::exception& e) {  // the children are stopped already
      res.error = e.what();
    }
    if (res.error.empty()) {
      peaks_from_stamps(res);
      const ptl::LimiterStats stats = reg.stats(kLimiterName);
      res.lib_total_acquired = stats.total_acquired;
      res.lib_total_timeouts = stats.total_timeouts;
      res.lib_in_flight_after = stats.in_flight;
    }
    reg.remove(kLimiterName);  // the registry is left as found
  } catch (const ptl::Error& e) {
    if (res.error.empty()) res.error = std::string(e.status_name()) + ": " + e.what();
  } catch (const std::exception& e) {
    if (res.error.empty()) res.error = e.what();
  }
  return res;
}

}  // namespace demo
