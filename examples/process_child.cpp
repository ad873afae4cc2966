// SPDX-License-Identifier: MIT
// A child of --processes N (see processes.hpp): runs its slice against the registry the
// parent named and writes its stamps to the parent, one line each.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <pocketflow_throttled/ptl.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <exception>
#include <string>

#include "demo_util.hpp"
#include "processes.hpp"

namespace demo {
namespace {

// One line for the parent: newlines inside `text` would break the protocol.
void say(const std::string& head, const std::string& text = "") {
  std::string line = head;
  if (!text.empty()) line += " " + text;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

// "go T0" from the parent. If the parent went away first, the child has nobody to report
// to: it leaves at once.
int64_t read_go(uint32_t k) {
  std::string line;
  char c = 0;
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "ptl-demo (process %u): the parent went away before the start\n", k + 1);
      std::_Exit(1);
    }
    if (c == '\n') break;
    line += c;
  }
  long long t0 = 0;
  if (std::sscanf(line.c_str(), "go %lld", &t0) != 1) {
    std::fprintf(stderr, "ptl-demo (process %u): unexpected '%s' from the parent\n", k + 1,
                 line.c_str());
    std::_Exit(1);
  }
  return t0;
}

}  // namespace

int run_child(const Params& p, uint32_t k) {
  // Dies with the parent (a killed parent must not leave children running its scenario).
  // A parent that died before this call is caught by read_go's end of file.
  prctl(PR_SET_PDEATHSIG, SIGKILL);

  RunResult res;
  res.items = blank_items(p);
  const Slice slice = child_slice(p, k);
  try {
    ptl::Registry reg = ptl::Registry::open(p.uri);
    const ptl::Limiter openai = reg.get(kLimiterName);  // registered by the parent
    play(
        p, openai, {slice},
        [k] {
          say("ready");
          const int64_t t0 = read_go(k);
          sleep_until_ns(t0);  // every child starts at the same moment
          return t0;
        },
        res);
  } catch (const ptl::Error& e) {
    res.error = std::string(e.status_name()) + ": " + e.what();
  } catch (const std::exception& e) {
    res.error = e.what();
  }
  for (size_t i = slice.first; i < slice.first + slice.count; ++i) {
    const ItemRecord& it = res.items[i];
    std::fprintf(stdout, "item %zu %" PRId64 " %" PRId64 " %" PRId64 "\n", i, it.want_ns,
                 it.grant_ns, it.release_ns);
  }
  std::fprintf(stdout, "end %" PRId64 "\n", res.end_ns);
  if (!res.error.empty()) say("error", res.error);
  say("done");
  return std::ferror(stdout) ? 1 : 0;
}

}  // namespace demo
