// SPDX-License-Identifier: MIT
// ptlctl: lists, watches and administers the limiters of a shared registry (shm:// or
// redis://). See `ptlctl --help`; the commands are in commands.cpp.
#include <pocketflow_throttled/ptl.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "args.hpp"
#include "commands.hpp"

namespace {

// The URI for messages, without a password ("redis://:secret@h:1" -> "redis://***@h:1").
std::string redacted(const std::string& uri) {
  const size_t scheme = uri.find("://");
  const size_t at = uri.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return uri;
  return uri.substr(0, scheme + 3) + "***" + uri.substr(at);
}

// Commands that only look at (or remove from) a registry must not create an shm://
// segment by looking: they open it with create=0, unless the URI says create= itself.
std::string without_creating(const std::string& uri) {
  if (uri.rfind("shm://", 0) != 0) return uri;
  const size_t q = uri.find('?');
  if (q == std::string::npos) return uri + "?create=0";
  for (size_t at = q + 1; at <= uri.size();) {
    const size_t end = std::min(uri.find('&', at), uri.size());
    const std::string key = uri.substr(at, std::min(uri.find('=', at), end) - at);
    if (key == "create") return uri;
    at = end + 1;
  }
  return uri + (q + 1 == uri.size() ? "" : "&") + "create=0";
}

int run(ptl_registry* reg, const ptlctl::Options& opts) {
  switch (opts.command) {
    case ptlctl::Command::kList:
      return ptlctl::list(reg, opts);
    case ptlctl::Command::kStats:
      return ptlctl::stats(reg, opts);
    case ptlctl::Command::kWatch:
      return ptlctl::watch(reg, opts);
    case ptlctl::Command::kRegister:
      return ptlctl::register_limiter(reg, opts);
    case ptlctl::Command::kRemove:
      return ptlctl::remove(reg, opts);
    case ptlctl::Command::kDestroy:
    case ptlctl::Command::kPresets:
      break;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const ptlctl::Parsed parsed = ptlctl::parse(argc, argv);
  if (!parsed.options) {
    std::fputs(parsed.text.c_str(), parsed.exit_status == 0 ? stdout : stderr);
    return parsed.exit_status;
  }
  const ptlctl::Options* opts = &*parsed.options;
  if (opts->command == ptlctl::Command::kPresets) return ptlctl::presets(*opts);
  std::string uri = opts->uri;
  if (uri.empty()) {
    const char* env = std::getenv("PTL_REGISTRY_URI");  // NOLINT(concurrency-mt-unsafe)
    if (env != nullptr) uri = env;
  }
  if (uri.empty()) {
    std::fprintf(stderr,
                 "ptlctl: no registry: give --uri shm://NAME or redis://HOST:PORT, or set "
                 "PTL_REGISTRY_URI\n");
    return 2;
  }
  if (uri.rfind("local:", 0) == 0) {
    std::fprintf(stderr,
                 "ptlctl: note: local: is private to this process; other programs' "
                 "limiters are not visible\n");
  }
  if (opts->command == ptlctl::Command::kDestroy) {
    return ptlctl::destroy(uri, redacted(uri), *opts);
  }
  if (opts->command == ptlctl::Command::kWatch) {
    // Blocked before the registry starts its threads, so only watch's sigtimedwait
    // takes Ctrl-C, and the registry is closed cleanly.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  const std::string open_uri =
      opts->command == ptlctl::Command::kRegister ? uri : without_creating(uri);
  ptl_registry* reg = nullptr;
  if (const int rc = ptl_registry_open(open_uri.c_str(), &reg); rc != PTL_OK) {
    return ptlctl::report_failure(redacted(uri).c_str(), rc);
  }
  const int status = run(reg, *opts);
  ptl_registry_close(reg);
  return status;
}
