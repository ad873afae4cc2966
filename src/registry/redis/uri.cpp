// SPDX-License-Identifier: MIT
#include "registry/redis/uri.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "core/status.hpp"

namespace ptl::core::redis {
namespace {

[[noreturn]] void bad(std::string_view uri, const std::string& what) {
  fail(Status::kInvalid, "registry URI '" + std::string(uri) + "': " + what);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes s; false on a malformed escape.
bool percent_decode(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out->push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// A non-negative decimal integer no larger than max; false otherwise.
bool parse_uint(std::string_view s, long max, long* out) {
  if (s.empty() || s.size() > 10) return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

// Seconds as a finite decimal within [lo, hi], converted to nanoseconds.
bool parse_seconds(std::string_view s, double lo, double hi, Nanos* out) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if ((c < '0' || c > '9') && c != '.') return false;
  }
  const std::string text(s);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return false;
  if (v < lo || v > hi) return false;
  *out = static_cast<Nanos>(std::llround(v * 1e9));
  return true;
}

bool valid_prefix(std::string_view p) {
  if (p.empty() || p.size() > 64) return false;
  for (char c : p) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void parse_query(std::string_view uri, std::string_view query, RedisOptions* o) {
  std::set<std::string, std::less<>> seen;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      bad(uri, "parameter '" + std::string(item) + "' has no value");
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (!seen.emplace(key).second) bad(uri, "parameter '" + std::string(key) + "' is given twice");
    if (key == "prefix") {
      // No ':' or braces: a prefix must never be able to end inside a limiter's name, or
      // two registries could share a key.
      if (!valid_prefix(value)) bad(uri, "prefix must be 1 to 64 characters of [A-Za-z0-9_.-]");
      o->prefix = value;
    } else if (key == "lease") {
      // The heartbeat runs every third of a lease; below 0.1 s it would be a busy loop.
      if (!parse_seconds(value, 0.1, 86400.0, &o->lease_ns)) {
        bad(uri, "lease must be a number of seconds from 0.1 to 86400");
      }
    } else if (key == "timeout") {
      if (!parse_seconds(value, 0.01, 3600.0, &o->timeout_ns)) {
        bad(uri, "timeout must be a number of seconds from 0.01 to 3600");
      }
    } else if (key == "on_error") {
      if (value == "fail") {
        o->on_error = OnError::kFail;
      } else if (value == "open") {
        o->on_error = OnError::kOpen;
      } else {
        bad(uri, "on_error must be 'fail' or 'open'");
      }
    } else {
      bad(uri, "unknown parameter '" + std::string(key) +
                   "' (expected prefix, lease, on_error or timeout)");
    }
  }
}

}  // namespace

std::string RedisOptions::where() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

RedisOptions parse_redis_uri(std::string_view uri) {
  constexpr std::string_view kScheme = "redis://";
  if (!uri.starts_with(kScheme)) bad(uri, "expected redis://");
  RedisOptions o;
  std::string_view rest = uri.substr(kScheme.size());

  const size_t q = rest.find('?');
  if (q != std::string_view::npos) {
    parse_query(uri, rest.substr(q + 1), &o);
    rest = rest.substr(0, q);
  }
  // The last '@' ends the credentials: a percent-encoded password needs no '@' escaped.
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = cred.find(':');
    if (colon == std::string_view::npos) {
      bad(uri, "credentials must be ':PASSWORD@' or 'USER:PASSWORD@'");
    }
    if (!percent_decode(cred.substr(0, colon), &o.user) ||
        !percent_decode(cred.substr(colon + 1), &o.password)) {
      bad(uri, "bad percent-escape in the credentials");
    }
    o.has_password = true;
  }
  const size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    long db = 0;
    if (!parse_uint(rest.substr(slash + 1), 1L << 30, &db)) {
      bad(uri, "the database after '/' must be a number");
    }
    o.db = static_cast<int>(db);
  }
  std::string_view port;
  if (hostport.starts_with('[')) {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) bad(uri, "unclosed '[' in the IPv6 host");
    o.host = hostport.substr(1, close - 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) bad(uri, "expected ':PORT' after ']'");
    if (!after.empty()) port = after.substr(1);
    if (after == ":") bad(uri, "empty port");
  } else {
    const size_t colon = hostport.find(':');
    o.host = hostport.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) bad(uri, "empty port");
    }
  }
  if (o.host.empty()) bad(uri, "no host (expected redis://HOST:PORT)");
  for (char c : o.host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '?' || c == '#') {
      bad(uri, "bad character in the host");
    }
  }
  if (!port.empty()) {
    long p = 0;
    if (!parse_uint(port, 65535, &p) || p == 0) bad(uri, "port must be a number from 1 to 65535");
    o.port = static_cast<int>(p);
  }
  return o;
}

}  // namespace ptl::core::redis
