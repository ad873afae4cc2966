// SPDX-License-Identifier: MIT
// The policy half of RedisLimiter (ADR 15 on redis://): the policy as the server keeps
// it, settle, observations, penalties, live policy changes and the reports.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "core/thread_annotations.hpp"
#include "log/log.hpp"
#include "registry/redis/redis_limiter.hpp"

namespace ptl::core::redis {
namespace {

uint64_t to_u64(std::string_view s) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    fail(Status::kBackend, "unreadable policy on the server: '" + std::string(s) + "'");
  }
  return v;
}

// Whole microseconds, rounded up (a longer window is the safe side), capped where a
// double is exact.
Nanos ns_to_us_up(Nanos ns) {
  return std::min<Nanos>((ns + 999) / 1000, static_cast<Nanos>(kMaxExact));
}

void check_exact(uint64_t amount, std::string_view what) {
  if (amount > kMaxExact) {
    fail(Status::kInvalid, "redis:// holds amounts as exact doubles: " + std::string(what) + " " +
                               std::to_string(amount) + " is above 2^53 - 1");
  }
}

// Checks a settle's amounts before anything is sent: a unit given twice, an amount the
// server cannot hold exactly.
void check_amounts(const Demand& d) {
  for (size_t k = 0; k < d.n; ++k) {
    for (size_t j = 0; j < k; ++j) {
      if (d.amounts[j].unit == d.amounts[k].unit) {
        fail(Status::kInvalid, "unit '" + std::string(d.amounts[k].unit) + "' is given twice");
      }
    }
    check_exact(d.amounts[k].amount, "amount of " + std::string(d.amounts[k].unit));
  }
}

// A double as text that reads back as the same double.
std::string exact_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

double to_double(std::string_view s) {
  const std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') {
    fail(Status::kBackend, "unreadable number '" + text + "' in the policy on the server");
  }
  return v;
}

[[noreturn]] void not_in_policy(std::string_view unit) {
  fail(Status::kInvalid, "unit '" + std::string(unit) + "' is not in the limiter's policy");
}

}  // namespace

std::vector<std::string> RedisLimiter::policy_args(const PolicySpec& policy) {
  policy.validate();
  std::vector<std::string> out{policy.config_shorthand ? "1" : "0",
                               exact_double(policy.config_window_seconds),
                               std::to_string(policy.limits.size())};
  for (const LimitSpec& l : policy.limits) {
    if (l.max > kMaxExact) {
      fail(Status::kInvalid, "redis:// holds limits as exact doubles: the max of " + l.unit +
                                 " must be at most 2^53 - 1, not " + std::to_string(l.max));
    }
    out.push_back(l.unit);
    out.push_back(std::to_string(l.max));
    out.push_back(std::to_string(l.window_ns));
    out.push_back(std::to_string(l.held() ? 0 : std::max<Nanos>(ns_to_us_up(l.window_ns), 1)));
  }
  return out;
}

PolicySpec RedisLimiter::parse_policy(std::string_view text, uint64_t* version) {
  std::vector<std::string_view> w;
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find(' ', at), text.size());
    if (end > at) w.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  if (w.size() < 4 || w.size() != 4 + 4 * to_u64(w[3])) {
    fail(Status::kBackend, "unreadable policy on the server: '" + std::string(text) + "'");
  }
  PolicySpec p;
  if (version != nullptr) *version = to_u64(w[0]);
  p.config_shorthand = w[1] == "1";
  p.config_window_seconds = to_double(w[2]);
  for (size_t i = 4; i < w.size(); i += 4) {
    p.limits.push_back({std::string(w[i]), to_u64(w[i + 1]), static_cast<Nanos>(to_u64(w[i + 2]))});
  }
  return p;
}

void RedisLimiter::throw_old_layout(std::string_view name) {
  fail(Status::kBackend,
       "limiter '" + std::string(name) +
           "' was created by a pocketflow-throttled 0.1 client (the old redis:// key layout, "
           "which this version does not read): remove it (ptl_registry_remove or "
           "ptl_registry_reset) once no 0.1 client uses it, or use another prefix");
}

std::optional<PolicySpec> RedisLimiter::policy_from_fields(const ReplyView& f,
                                                           std::string_view name) {
  // HMGET s v p mc: a 0.1 limiter has mc (and no v); ours has v "2".
  if (!f.at(2).is_nil() || (!f.at(0).is_nil() && f.at(0).str() != "2")) throw_old_layout(name);
  if (f.at(0).is_nil()) return std::nullopt;
  return parse_policy(f.at(1).str(), nullptr);
}

std::shared_ptr<const RedisLimiter::View> RedisLimiter::adopt(std::string_view text) {
  auto v = std::make_shared<View>();
  v->policy = parse_policy(text, &v->version);
  // The server's word at that moment. Replies of two threads may arrive out of order and
  // leave an older view here: harmless, the script refuses it ('stale') and says which.
  MutexLock lock(mutex_);
  view_ = v;
  return v;
}

std::shared_ptr<const RedisLimiter::View> RedisLimiter::view() {
  {
    MutexLock lock(mutex_);
    if (view_) return view_;
  }
  policy();  // reads it and adopts it
  MutexLock lock(mutex_);
  return view_;
}

PolicySpec RedisLimiter::policy() {
  const Reply r = backend_->link().command({"HMGET", keys_.state(), "v", "p", "mc"});
  const ReplyView f = r.view();
  if (!policy_from_fields(f, keys_.name)) throw_removed();
  return adopt(f.at(1).str())->policy;
}

void RedisLimiter::set_policy(const PolicySpec& policy) {
  const std::vector<std::string> a = policy_args(policy);
  std::vector<std::string> words{"update"};
  words.insert(words.end(), a.begin(), a.end());
  const Reply r = run("reg", Argv(words.begin(), words.end()));
  if (r.view().at(0).str() == "nf") throw_removed();
  adopt(r.view().at(1).str());
  log::logger().info("limiter '{}': policy set, {} limits", keys_.name, policy.limits.size());
}

std::optional<int64_t> RedisLimiter::grant_of(PermitId permit) {
  MutexLock lock(mutex_);
  auto it = held_.find(permit);
  if (it != held_.end()) return it->second.grant;
  for (const auto& [p, grant] : released_) {
    if (p == permit) return grant;
  }
  return std::nullopt;
}

void RedisLimiter::settle(PermitId permit, const Demand& actual) {
  check_amounts(actual);
  const std::optional<int64_t> grant = grant_of(permit);
  if (!grant) {
    fail(Status::kInvalid, "permit " + std::to_string(permit) +
                               " is not held on this limiter and not remembered (released "
                               "longer ago than its windows, another limiter's, or never granted)");
  }
  if (*grant == 0) return;  // an open permit (on_error=open) is counted nowhere
  // Not kept while the server is away (unlike a release): a settle changes what others
  // may take, so the caller hears PTL_EBACKEND and decides whether to settle again.
  std::vector<std::string> words{std::to_string(*grant), actual.lenient_tokens ? "1" : "0"};
  for (size_t k = 0; k < actual.n; ++k) {
    words.emplace_back(actual.amounts[k].unit);
    words.push_back(std::to_string(actual.amounts[k].amount));
  }
  const Reply r = run("stl", Argv(words.begin(), words.end()));
  const ReplyView v = r.view();
  const std::string_view tag = v.at(0).str();
  if (tag == "ok") return schedule_wake(v.at(1).integer());
  if (tag == "nf") throw_removed();
  if (tag == "twice") {
    fail(Status::kInvalid, "unit '" + std::string(v.at(1).str()) + "' of permit " +
                               std::to_string(permit) + " is settled already");
  }
  if (tag == "unit") not_in_policy(v.at(1).str());
  if (tag == "forgotten") {
    fail(Status::kInvalid, "permit " + std::to_string(permit) +
                               " is not remembered by the server (released longer ago than "
                               "its windows, or its session was reaped)");
  }
  fail(Status::kBackend, "unexpected reply from the limiter script: " + v.describe());
}

void RedisLimiter::observe(std::string_view unit, uint64_t remaining, Nanos reset_after_ns) {
  validate_unit(unit);
  if (reset_after_ns < 0) fail(Status::kInvalid, "reset_after_ns must be >= 0");
  check_exact(remaining, "remaining");
  const std::string rem = std::to_string(remaining);
  const std::string us = std::to_string(ns_to_us_up(reset_after_ns));
  const Reply r = run("obs", {unit, rem, us});
  const std::string_view tag = r.view().at(0).str();
  if (tag == "nf") throw_removed();
  if (tag == "unit") not_in_policy(unit);
  log::logger().debug("limiter '{}': observed {} {} left for {} ms", keys_.name, remaining, unit,
                      reset_after_ns / 1000000);
  schedule_wake(r.view().at(1).integer());
}

void RedisLimiter::penalize(Nanos retry_after_ns) {
  if (retry_after_ns < 0) fail(Status::kInvalid, "retry_after_ns must be >= 0");
  const std::string us = std::to_string(std::min<Nanos>(retry_after_ns / 1000, kMaxExact));
  const Reply r = run("pen", {us});
  if (r.view().at(0).str() == "nf") throw_removed();
  log::logger().info("limiter '{}' penalized for {} ms", keys_.name, retry_after_ns / 1000000);
  schedule_wake(r.view().at(1).integer());
}

LimitUsage RedisLimiter::usage(std::string_view unit, Nanos window_ns) {
  const std::string wns = std::to_string(window_ns);
  const Reply r = run("use", {unit, wns});
  const ReplyView v = r.view();
  const std::string_view tag = v.at(0).str();
  if (tag == "nf") throw_removed();
  if (tag == "none") {
    fail(Status::kNotFound, "the policy has no limit of " + std::string(unit) +
                                (window_ns == 0 ? " held" : " per " + wns + " ns"));
  }
  LimitUsage u;
  u.max = static_cast<uint64_t>(v.at(1).integer());
  u.window_ns = window_ns;
  u.used = static_cast<uint64_t>(std::max<int64_t>(v.at(2).integer(), 0));
  const int64_t cap = v.at(3).integer();
  u.observed_cap = cap < 0 ? UINT64_MAX : static_cast<uint64_t>(cap);
  const int64_t next = v.at(4).integer();
  u.next_room_ns = next < 0 ? -1 : next * 1000;
  return u;
}

StatsSnapshot RedisLimiter::stats() {
  const Reply r = run("stats", {});
  const ReplyView v = r.view();
  if (v.size() == 0) throw_removed();
  const PolicySpec p = adopt(v.at(0).str())->policy;
  StatsSnapshot s;
  s.config = p.to_config();
  s.in_flight = static_cast<uint32_t>(v.at(1).integer());
  s.waiting = static_cast<uint32_t>(v.at(2).integer());
  s.total_acquired = static_cast<uint64_t>(v.at(3).integer());
  s.total_timeouts = static_cast<uint64_t>(v.at(4).integer());
  s.total_cancelled = static_cast<uint64_t>(v.at(5).integer());
  s.total_rejected = static_cast<uint64_t>(v.at(6).integer());
  s.total_wait_ns = static_cast<uint64_t>(v.at(7).integer()) * 1000;
  // The 0.1 view: the requests and tokens limits of the config's window.
  const Nanos window = s.config.window_ns();
  for (size_t i = 0; i < p.limits.size() && 8 + i < v.size(); ++i) {
    const LimitSpec& l = p.limits[i];
    if (l.held() || l.window_ns != window) continue;
    const auto used = static_cast<uint64_t>(std::max<int64_t>(v.at(8 + i).integer(), 0));
    if (l.unit == kRequests) s.current_window_count = used;
    if (l.unit == kTokens) s.current_window_cost = used;
  }
  return s;
}

}  // namespace ptl::core::redis
