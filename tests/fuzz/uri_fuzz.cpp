// SPDX-License-Identifier: MIT
// ptl_fuzz_uri: the input, up to its first NUL, is a registry URI for ptl_registry_open.
// Whatever it is, the open ends in PTL_OK, PTL_EINVAL, PTL_ENOTFOUND or PTL_EBACKEND,
// with a message when it fails, and never crashes, leaks or hangs.
//
// Confinement (the fuzzer must not touch anything but its own files and the loopback):
// - redis://: the HOST:PORT part is replaced with one of a few loopback forms on port 1,
//   where nothing listens (and a few malformed ones), chosen by the bytes it replaces;
//   credentials, database and parameters stay as fuzzed. A connect timeout of 0.1 s is
//   added unless the URI sets its own.
// - shm://NAME: NAME gets a prefix unique to this process, so no other segment is ever
//   opened, and the segment file is unlinked after every input.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"

namespace {

const std::string& prefix() {
  static const std::string p = "ptlfuzz." + std::to_string(getpid()) + ".";
  return p;
}

std::string confine_redis(std::string_view uri) {
  static const char* const kHosts[] = {
      "127.0.0.1:1", "localhost:1", "[::1]:1", "127.0.0.1:1",
      // Each refused by the parser before any connection (see src/registry/redis/uri.cpp).
      "", ":1", "[::1", "[::1]x", "[]:1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
      "127.0.0.1:x1", "127.0.0.1:99999999999", "bad host:1", "[::1]:"};
  std::string_view rest = uri.substr(std::string_view("redis://").size());
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q);  // with the '?'
    rest = rest.substr(0, q);
  }
  std::string_view cred;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    cred = rest.substr(0, at + 1);  // with the '@'
    rest = rest.substr(at + 1);
  }
  std::string_view tail;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    tail = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  size_t pick = rest.size();
  for (char c : rest) pick = pick * 31 + static_cast<unsigned char>(c);
  std::string out = "redis://";
  out.append(cred).append(kHosts[pick % std::size(kHosts)]).append(tail).append(query);
  const bool has_timeout = query.find("?timeout=") != std::string_view::npos ||
                           query.find("&timeout=") != std::string_view::npos;
  if (!has_timeout) out += query.empty() ? "?timeout=0.1" : "&timeout=0.1";
  return out;
}

// Returns the URI with the segment name prefixed; *segment gets the file to unlink.
std::string confine_shm(std::string_view uri, std::string* segment) {
  std::string_view rest = uri.substr(std::string_view("shm://").size());
  if (rest.empty() || rest.front() == '?') return std::string(uri);  // no name: refused
  const std::string name = prefix() + std::string(rest.substr(0, rest.find('?')));
  *segment = "/ptl." + name;
  return "shm://" + prefix() + std::string(rest);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  ptl_log_set_level(PTL_LOG_OFF);
  const char* trace = std::getenv("PTL_FUZZ_TRACE");  // NOLINT(concurrency-mt-unsafe)
  ptl_fuzz::g_trace = trace != nullptr && *trace != '\0' && *trace != '0';
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string uri(raw.substr(0, raw.find('\0')));
  std::string segment;
  if (uri.starts_with("redis://")) uri = confine_redis(uri);
  if (uri.starts_with("shm://")) uri = confine_shm(uri, &segment);
  if (!segment.empty()) shm_unlink(segment.c_str());  // left by an earlier crash

  ptl_registry* reg = nullptr;
  const int rc = ptl_fuzz::expect("ptl_registry_open", ptl_registry_open(uri.c_str(), &reg),
                                  {PTL_OK, PTL_EINVAL, PTL_ENOTFOUND, PTL_EBACKEND});
  if (rc == PTL_OK) {
    ptl_fuzz::require(reg != nullptr, "ptl_registry_open", rc, "OK but no registry");
    // One call through the registry (a redis:// one opened with on_error=open may fail).
    ptl_fuzz::expect("ptl_registry_exists", ptl_registry_exists(reg, "a"), {0, PTL_EBACKEND});
    ptl_registry_close(reg);
  }
  if (!segment.empty()) shm_unlink(segment.c_str());
  return 0;
}
