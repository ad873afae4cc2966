// SPDX-License-Identifier: MIT
#include "core/rate_headers.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace ptl::core {
namespace {

using std::chrono::system_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr Nanos kMs = 1'000'000;
constexpr Nanos kSec = 1'000'000'000;

// A UTC wall-clock time, to the nanosecond.
system_clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s, Nanos ns = 0) {
  using namespace std::chrono;
  const sys_days date{year{y} / month{mo} / day{d}};
  return system_clock::time_point(duration_cast<system_clock::duration>(
      date + hours{h} + minutes{mi} + seconds{s} + nanoseconds{ns} - sys_days{}));
}

const system_clock::time_point kNow = utc(2024, 8, 20, 17, 5, 0);

RateHeaders parse(const Headers& h, system_clock::time_point now = kNow) {
  std::vector<const char*> names, values;
  for (const auto& [n, v] : h) {
    names.push_back(n.c_str());
    values.push_back(v.c_str());
  }
  return parse_rate_headers(h.size(), names.data(), values.data(), now);
}

struct Obs {
  std::string unit;
  uint64_t remaining;
  Nanos reset_after_ns;
  bool operator==(const Obs&) const = default;
};
void PrintTo(const Obs& o, std::ostream* os) {
  *os << "{" << o.unit << ", " << o.remaining << ", " << o.reset_after_ns << " ns}";
}

std::vector<Obs> obs(const RateHeaders& r) {
  std::vector<Obs> out;
  for (const HeaderObservation& o : r.observations) {
    out.push_back({std::string(o.unit), o.remaining, o.reset_after_ns});
  }
  return out;
}

// The reset of one OpenAI tokens header value (with a valid remaining beside it), or -1 if
// it was refused; a refused value must also be counted as malformed.
Nanos go_reset(const std::string& value) {
  const RateHeaders r =
      parse({{"x-ratelimit-remaining-tokens", "1"}, {"x-ratelimit-reset-tokens", value}});
  EXPECT_EQ(r.malformed, r.observations.empty() ? 1u : 0u) << value;
  return r.observations.empty() ? -1 : r.observations[0].reset_after_ns;
}

// Same for an Anthropic (RFC 3339) reset.
Nanos rfc3339_reset(const std::string& value, system_clock::time_point now = kNow) {
  const RateHeaders r = parse({{"anthropic-ratelimit-requests-remaining", "1"},
                               {"anthropic-ratelimit-requests-reset", value}},
                              now);
  EXPECT_EQ(r.malformed, r.observations.empty() ? 1u : 0u) << value;
  return r.observations.empty() ? -1 : r.observations[0].reset_after_ns;
}

// Retry-After alone: its delay, or -1 if refused (and then counted as malformed).
Nanos retry_after(const std::string& value, system_clock::time_point now = kNow) {
  const RateHeaders r = parse({{"Retry-After", value}}, now);
  EXPECT_EQ(r.malformed, r.retry_after_ns ? 0u : 1u) << value;
  EXPECT_TRUE(r.observations.empty());
  return r.retry_after_ns.value_or(-1);
}

// The sample values of the table in "Rate limits in headers",
// https://platform.openai.com/docs/guides/rate-limits
TEST(RateHeaders, OpenAiDocumentedSample) {
  const RateHeaders r = parse({{"x-ratelimit-limit-requests", "60"},
                               {"x-ratelimit-limit-tokens", "150000"},
                               {"x-ratelimit-remaining-requests", "59"},
                               {"x-ratelimit-remaining-tokens", "149984"},
                               {"x-ratelimit-reset-requests", "1s"},
                               {"x-ratelimit-reset-tokens", "6m0s"}});
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 59, 1 * kSec}, {"tokens", 149984, 360 * kSec}}));
  EXPECT_EQ(r.malformed, 0u);
  EXPECT_FALSE(r.retry_after_ns);
}

// A response quoted in the OpenAI community thread "How to get rate limit reset time for
// response API?" (community.openai.com/t/1268905): the *_usage_based family is not ours.
TEST(RateHeaders, OpenAiRecordedResponseIgnoresUsageBasedHeaders) {
  const RateHeaders r = parse({{"date", "Mon, 26 May 2025 05:00:04 GMT"},
                               {"x-ratelimit-limit-requests", "5000"},
                               {"x-ratelimit-limit-tokens", "160000"},
                               {"x-ratelimit-limit-tokens_usage_based", "160000"},
                               {"x-ratelimit-remaining-requests", "4999"},
                               {"x-ratelimit-remaining-tokens", "159976"},
                               {"x-ratelimit-remaining-tokens_usage_based", "159976"},
                               {"x-ratelimit-reset-requests", "12ms"},
                               {"x-ratelimit-reset-tokens", "9ms"},
                               {"x-ratelimit-reset-tokens_usage_based", "9ms"}});
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 4999, 12 * kMs}, {"tokens", 159976, 9 * kMs}}));
  EXPECT_EQ(r.malformed, 0u);
}

// Azure OpenAI's Responses API sent -1 (openai/openai-dotnet issue 838): refused, counted;
// the limit header is skipped without being parsed, so its -1 is not counted.
TEST(RateHeaders, AzureNegativeRemainingIsMalformed) {
  const RateHeaders r = parse({{"x-ratelimit-limit-tokens", "-1"},
                               {"x-ratelimit-remaining-tokens", "-1"},
                               {"x-ratelimit-reset-tokens", "0"}});
  EXPECT_TRUE(r.observations.empty());
  EXPECT_EQ(r.malformed, 1u);
}

// Anthropic's "Response headers" table (https://docs.anthropic.com/en/api/rate-limits) gives
// the names and RFC 3339 resets but no values; these are a real 429's, quoted in
// anthropics/anthropic-sdk-typescript issue 357, parsed at the time of its Date header.
TEST(RateHeaders, AnthropicRecorded429) {
  const RateHeaders r = parse({{"anthropic-ratelimit-requests-limit", "5"},
                               {"anthropic-ratelimit-requests-remaining", "0"},
                               {"anthropic-ratelimit-requests-reset", "2024-03-26T20:00:00Z"},
                               {"anthropic-ratelimit-tokens-limit", "25000"},
                               {"anthropic-ratelimit-tokens-remaining", "16000"},
                               {"anthropic-ratelimit-tokens-reset", "2024-03-26T20:00:00Z"},
                               {"cf-cache-status", "DYNAMIC"},
                               {"content-length", "305"},
                               {"date", "Tue, 26 Mar 2024 19:59:59 GMT"},
                               {"request-id", "req_01T5fCVnYdf9X5ZW6KayReBK"},
                               {"x-should-retry", "true"}},
                              utc(2024, 3, 26, 19, 59, 59));
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 0, 1 * kSec}, {"tokens", 16000, 1 * kSec}}));
  EXPECT_EQ(r.malformed, 0u);
}

// A recorded api.anthropic.com response (test fixture messages-e050b5-POST.R of the tidyllm R
// package), with all four units, parsed 2 s before its Date header: observations come out
// in unit order, whatever the header order.
TEST(RateHeaders, AnthropicRecordedAllUnits) {
  const RateHeaders r = parse({{"date", "Thu, 21 Aug 2025 12:41:00 GMT"},
                               {"anthropic-ratelimit-output-tokens-limit", "16000"},
                               {"anthropic-ratelimit-output-tokens-remaining", "16000"},
                               {"anthropic-ratelimit-output-tokens-reset", "2025-08-21T12:41:00Z"},
                               {"anthropic-ratelimit-input-tokens-limit", "80000"},
                               {"anthropic-ratelimit-input-tokens-remaining", "80000"},
                               {"anthropic-ratelimit-input-tokens-reset", "2025-08-21T12:40:59Z"},
                               {"anthropic-ratelimit-requests-limit", "1000"},
                               {"anthropic-ratelimit-requests-remaining", "999"},
                               {"anthropic-ratelimit-requests-reset", "2025-08-21T12:40:59Z"},
                               {"anthropic-ratelimit-tokens-limit", "96000"},
                               {"anthropic-ratelimit-tokens-remaining", "96000"},
                               {"anthropic-ratelimit-tokens-reset", "2025-08-21T12:40:59Z"},
                               {"request-id", "req_011CSLsW7mFqvHHnzrKdKjAE"},
                               {"via", "1.1 google"}},
                              utc(2025, 8, 21, 12, 40, 58));
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 999, 1 * kSec},
                                      {"tokens", 96000, 1 * kSec},
                                      {"input_tokens", 80000, 1 * kSec},
                                      {"output_tokens", 16000, 2 * kSec}}));
  EXPECT_EQ(r.malformed, 0u);
  for (const HeaderObservation& o : r.observations) {
    EXPECT_EQ(std::strlen(o.unit.data()), o.unit.size());  // usable as a C string
  }
}

TEST(RateHeaders, GoDurations) {
  EXPECT_EQ(go_reset("1s"), 1 * kSec);
  EXPECT_EQ(go_reset("6m0s"), 360 * kSec);
  EXPECT_EQ(go_reset("20ms"), 20 * kMs);
  EXPECT_EQ(go_reset("1h2m3.5s"), 3723 * kSec + 500 * kMs);
  EXPECT_EQ(go_reset("0s"), 0);
  EXPECT_EQ(go_reset("0"), 0);
  EXPECT_EQ(go_reset("59.52s"), 59 * kSec + 520 * kMs);
  EXPECT_EQ(go_reset("1m30.123s"), 90 * kSec + 123 * kMs);
  EXPECT_EQ(go_reset("1.5h"), 5400 * kSec);
  EXPECT_EQ(go_reset("2h45m"), 9900 * kSec);
  EXPECT_EQ(go_reset("1.5ms"), 1'500'000);
  EXPECT_EQ(go_reset("300us"), 300'000);
  EXPECT_EQ(go_reset("300\xC2\xB5s"), 300'000);  // µ U+00B5, as Go prints it
  EXPECT_EQ(go_reset("300\xCE\xBCs"), 300'000);  // μ U+03BC, also accepted by Go
  EXPECT_EQ(go_reset("7ns"), 7);
  EXPECT_EQ(go_reset(".5s"), 500 * kMs);  // Go accepts either side of the point alone
  EXPECT_EQ(go_reset("5.s"), 5 * kSec);
  EXPECT_EQ(go_reset("1s1s"), 2 * kSec);  // so does Go
  EXPECT_EQ(go_reset("0.000000001s"), 1);
  EXPECT_EQ(go_reset("1.9ns"), 1);                       // truncated to the nanosecond
  EXPECT_EQ(go_reset("0.0000000000001h"), 0);            // 0.36 ns
  EXPECT_EQ(go_reset("0.0000000000003h"), 1);            // 1.08 ns
  EXPECT_EQ(go_reset("0.00000000000099999999999h"), 3);  // 3.6 ns (digits past the 13th dropped)
  EXPECT_EQ(go_reset(std::string(100000, '0') + "1s"), kSec);  // long but small
  EXPECT_EQ(go_reset("1000000000s"), kMaxHeaderDelayNs);
  EXPECT_EQ(go_reset("277777h46m40s"), kMaxHeaderDelayNs);
  EXPECT_EQ(go_reset(" \t6m0s \t"), 360 * kSec);  // OWS trimmed
}

TEST(RateHeaders, GoDurationsMalformed) {
  for (const char* bad : {"",
                          " ",
                          "s",
                          "1",
                          "10",
                          "-1s",
                          "+1s",
                          "1x",
                          "1S",
                          "1MS",
                          "1 s",
                          "1s 1s",
                          ".s",
                          "1..5s",
                          "1.5.5s",
                          "1e3s",
                          "0x10s",
                          "1mss",
                          "1sm2",
                          "1\xC2s",
                          "1\xC2\xB5",
                          "\xB5s",
                          "1s\x01",
                          "1s\x7f",
                          "\xff\xfe",
                          "1h-1m",
                          "1000000000.000000001s",
                          "1000000001s",
                          "277778h",
                          "99999999999999999999s",
                          "18446744073709551616ns",
                          "9223372036854775807ns",
                          "1000000000000000000000000000000h",
                          "5124096h"}) {  // 5124096 h in ns is 2^64 + 1.5e12: no wrapping
    EXPECT_EQ(go_reset(bad), -1) << bad;
  }
  EXPECT_EQ(go_reset(std::string(100000, '9') + "s"), -1);
}

TEST(RateHeaders, RemainingValues) {
  const auto remaining = [](const std::string& v) -> int64_t {
    const RateHeaders r =
        parse({{"x-ratelimit-remaining-requests", v}, {"x-ratelimit-reset-requests", "1s"}});
    EXPECT_EQ(r.malformed, r.observations.empty() ? 1u : 0u) << v;
    return r.observations.empty() ? -1 : static_cast<int64_t>(r.observations[0].remaining);
  };
  EXPECT_EQ(remaining("0"), 0);
  EXPECT_EQ(remaining("007"), 7);
  EXPECT_EQ(remaining("\t42 "), 42);
  EXPECT_EQ(remaining(std::string(100000, '0') + "5"), 5);
  const RateHeaders max = parse({{"x-ratelimit-remaining-requests", "18446744073709551615"},
                                 {"x-ratelimit-reset-requests", "1s"}});
  ASSERT_EQ(max.observations.size(), 1u);
  EXPECT_EQ(max.observations[0].remaining, UINT64_MAX);
  for (const char* bad : {"", "  ", "-5", "+5", "5 5", "5abc", "1e3", "0x10", "5.0", "٣",
                          "18446744073709551616", "99999999999999999999999"}) {
    EXPECT_EQ(remaining(bad), -1) << bad;
  }
}

TEST(RateHeaders, Rfc3339Resets) {
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:43Z"), 43 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-20t17:05:43z"), 43 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-20 17:05:43Z"), 43 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:43.5Z"), 43 * kSec + 500 * kMs);
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:43.123456789123Z"), 43 * kSec + 123'456'789);
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:43+00:00"), 43 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:43-00:00"), 43 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-20T19:05:43.25+02:00"), 43 * kSec + 250 * kMs);
  EXPECT_EQ(rfc3339_reset("2024-08-20T11:35:43-05:30"), 43 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-21T03:05:00+09:59"), 60 * kSec);
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:60Z"), 60 * kSec);  // a leap second: next minute
  EXPECT_EQ(rfc3339_reset("2024-08-21T17:05:00Z"), 86400 * kSec);
  EXPECT_EQ(rfc3339_reset("2025-03-01T00:00:00Z"),
            rfc3339_reset("2025-02-28T00:00:00Z") + 86400 * kSec);  // 2025: no 29th
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:00Z"), 0);              // now
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:04:59.999Z"), 0);          // past
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:00.1Z", utc(2024, 8, 20, 17, 5, 0, 250 * kMs)), 0);
  EXPECT_EQ(rfc3339_reset("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(rfc3339_reset("0000-01-01T00:00:00Z"), 0);
  EXPECT_EQ(rfc3339_reset("2055-08-20T17:05:00Z"), Nanos{11322} * 86400 * kSec);  // 31 years
  const auto epoch = utc(1970, 1, 1, 0, 0, 0);
  EXPECT_EQ(rfc3339_reset("2001-09-09T01:46:40Z", epoch), kMaxHeaderDelayNs);  // 1e9 s
  EXPECT_EQ(rfc3339_reset("2001-09-09T01:46:40.000000001Z", epoch), -1);
  // The wall clock's own fraction and times before the epoch.
  EXPECT_EQ(rfc3339_reset("2024-08-20T17:05:01Z", utc(2024, 8, 20, 17, 5, 0, 250 * kMs)),
            750 * kMs);
  EXPECT_EQ(rfc3339_reset("1970-01-01T00:00:00Z", utc(1969, 12, 31, 23, 59, 59, 500 * kMs)),
            500 * kMs);
  EXPECT_EQ(rfc3339_reset("1969-12-31T23:59:58.8Z", utc(1969, 12, 31, 23, 59, 58, 500 * kMs)),
            300 * kMs);
}

TEST(RateHeaders, Rfc3339Malformed) {
  for (const char* bad : {"",
                          "2024-08-20",
                          "2024-08-20T17:05:43",
                          "2024-08-20T17:05Z",
                          "2024-08-20T17:05:43 Z",
                          "2024-08-20T17:05:43ZZ",
                          "2024-08-20T17:05:43.Z",
                          "2024-08-20T17:05:43,5Z",
                          "2024-13-01T00:00:00Z",
                          "2024-00-01T00:00:00Z",
                          "2023-02-29T00:00:00Z",
                          "2024-04-31T00:00:00Z",
                          "2024-08-00T00:00:00Z",
                          "2024-08-20T24:00:00Z",
                          "2024-08-20T17:60:00Z",
                          "2024-08-20T17:05:61Z",
                          "2024-08-20T17:05:43+24:00",
                          "2024-08-20T17:05:43+02:60",
                          "2024-08-20T17:05:43+02",
                          "2024-08-20T17:05:43+0200",
                          "24-08-20T17:05:43Z",
                          "2024-8-20T17:05:43Z",
                          "+2024-08-20T17:05:43Z",
                          "1724173543",
                          "Tue, 20 Aug 2024 17:05:43 GMT",
                          "2024-08-20T17:05:43Z\x80",
                          "2024-08-20T17:05:4\xff",
                          "9999-12-31T23:59:59Z",     // beyond kMaxHeaderDelayNs
                          "2056-08-20T17:05:00Z"}) {  // so is 32 years ahead
    EXPECT_EQ(rfc3339_reset(bad), -1) << bad;
  }
}

TEST(RateHeaders, RetryAfterSeconds) {
  EXPECT_EQ(retry_after("60"), 60 * kSec);
  EXPECT_EQ(retry_after("0"), 0);
  EXPECT_EQ(retry_after(" 120\t"), 120 * kSec);
  EXPECT_EQ(retry_after("1000000000"), kMaxHeaderDelayNs);
  for (const char* bad :
       {"", "1.5", "-1", "+1", "60s", "1e2", "1000000001", "99999999999999999999999"}) {
    EXPECT_EQ(retry_after(bad), -1) << bad;
  }
}

// RFC 9110 section 5.6.7's examples, one of each form, all for the same instant.
TEST(RateHeaders, RetryAfterHttpDates) {
  const auto now = utc(1994, 11, 6, 8, 48, 37);
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 60 * kSec);
  EXPECT_EQ(retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 60 * kSec);
  EXPECT_EQ(retry_after("Sun Nov  6 08:49:37 1994", now), 60 * kSec);
  EXPECT_EQ(retry_after("Sun Nov 16 08:49:37 1994", now), (10 * 86400 + 60) * kSec);
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", utc(1994, 11, 6, 8, 49, 36, 1)), kSec - 1);
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", utc(2024, 1, 1, 0, 0, 0)), 0);  // past
  // The day name is not checked against the date (1994-11-07 was a Monday).
  EXPECT_EQ(retry_after("Sun, 07 Nov 1994 08:48:37 GMT", now), 86400 * kSec);
  for (const char* bad : {"sun, 06 Nov 1994 08:49:37 GMT",
                          "Sun, 06 nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 08:49:37 gmt",
                          "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 6 Nov 1994 08:49:37 GMT",
                          "Sun,06 Nov 1994 08:49:37 GMT",
                          "Sun, 31 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMTx",
                          "Sun, 06 Nov 1994 08:49:37",
                          "Xyz, 06 Nov 1994 08:49:37 GMT",
                          "Sunday, 06 Nov 1994 08:49:37 GMT",
                          "Sun, 06-Nov-94 08:49:37 GMT",
                          "Sunday, 06-Nov-1994 08:49:37 GMT",
                          "Sun Nov 6 08:49:37 1994",
                          "Sun Nov  6 08:49:37 94",
                          "Sun Nov 06 08:49:37 1994 GMT",
                          "1994-11-06T08:49:37Z",
                          "Sun, 06 Nov 1994 08:49:37 GMT\xc3\xa9",
                          "Sun, 06 Nov \x01\x02\x03"}) {
    EXPECT_EQ(retry_after(bad, now), -1) << bad;
  }
  // A trailing space is OWS, trimmed.
  EXPECT_EQ(retry_after("Sun, 06 Nov 1994 08:49:37 GMT ", now), 60 * kSec);
}

// RFC 9110: a two-digit year more than 50 years ahead is the last such year in the past.
TEST(RateHeaders, Rfc850TwoDigitYears) {
  const auto now = utc(2025, 6, 1, 0, 0, 0);
  EXPECT_EQ(retry_after("Sunday, 01-Jun-25 00:01:00 GMT", now), 60 * kSec);  // 2025
  EXPECT_EQ(retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 0);          // 1994, past
  EXPECT_EQ(retry_after("Thursday, 01-Jan-76 00:00:00 GMT", now), 0);        // 1976, past
  // 2075 is exactly 50 years ahead, so it stays 2075: beyond kMaxHeaderDelayNs.
  EXPECT_EQ(retry_after("Tuesday, 01-Jan-75 00:00:00 GMT", now), -1);
  EXPECT_EQ(retry_after("Friday, 01-Jan-49 00:00:00 GMT", utc(1999, 1, 1, 0, 0, 0)), -1);
}

TEST(RateHeaders, NamesAreCaseInsensitiveValuesAreNot) {
  const RateHeaders r = parse({{"X-RateLimit-Remaining-Requests", "3"},
                               {"X-RATELIMIT-RESET-REQUESTS", "2s"},
                               {"Anthropic-RateLimit-Output-Tokens-Remaining", "4"},
                               {"ANTHROPIC-RATELIMIT-OUTPUT-TOKENS-RESET", "2024-08-20T17:05:05Z"},
                               {"RETRY-AFTER", "7"},
                               {"x-ratelimit-reset-tokens", "2S"},
                               {"x-ratelimit-remaining-tokens", "1"}});
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 3, 2 * kSec}, {"output_tokens", 4, 5 * kSec}}));
  EXPECT_EQ(r.retry_after_ns, 7 * kSec);
  EXPECT_EQ(r.malformed, 1u);  // "2S"
}

TEST(RateHeaders, UnknownHeadersAreIgnoredWhateverTheirValue) {
  const RateHeaders r = parse({{"x-ratelimit-remaining", "-1"},
                               {"x-ratelimit-remaining-request", "x"},
                               {"x-ratelimit-remaining-requestsx", "x"},
                               {"x-ratelimit-remaining-requests ", "5"},
                               {" retry-after", "5"},
                               {"retry-after-ms", "x"},
                               {"ratelimit-remaining", "x"},
                               {"anthropic-ratelimit-unified-reset", "x"},
                               {"anthropic-ratelimit-requests", "x"},
                               {"x-ratelimit-remaining-tokens_usage_based", "x"},
                               {"X-RATELİMİT-REMAINING-REQUESTS", "5"},  // Turkish dotted I
                               {"", ""},
                               {"\xff\xfe", "\xff"}});
  EXPECT_TRUE(r.observations.empty());
  EXPECT_FALSE(r.retry_after_ns);
  EXPECT_EQ(r.malformed, 0u);
}

TEST(RateHeaders, LimitHeadersAreSkippedUnparsed) {
  const RateHeaders r = parse({{"x-ratelimit-limit-requests", "garbage"},
                               {"x-ratelimit-limit-tokens", ""},
                               {"anthropic-ratelimit-requests-limit", "-3"},
                               {"anthropic-ratelimit-tokens-limit", "1e9"},
                               {"anthropic-ratelimit-input-tokens-limit", "\xff"},
                               {"anthropic-ratelimit-output-tokens-limit", "1.5"}});
  EXPECT_TRUE(r.observations.empty());
  EXPECT_EQ(r.malformed, 0u);
}

TEST(RateHeaders, NullEntriesAreMalformedNeverFatal) {
  const char* names[] = {"x-ratelimit-remaining-requests", nullptr, "x-ratelimit-reset-requests",
                         "unknown", nullptr};
  const char* values[] = {"5", "1s", "1s", nullptr, nullptr};
  const RateHeaders r = parse_rate_headers(5, names, values, kNow);
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 5, 1 * kSec}}));
  EXPECT_EQ(r.malformed, 3u);

  EXPECT_EQ(parse_rate_headers(3, nullptr, values, kNow).malformed, 3u);
  EXPECT_EQ(parse_rate_headers(3, names, nullptr, kNow).malformed, 3u);
  const RateHeaders none = parse_rate_headers(0, nullptr, nullptr, kNow);
  EXPECT_TRUE(none.observations.empty());
  EXPECT_FALSE(none.retry_after_ns);
  EXPECT_EQ(none.malformed, 0u);
}

TEST(RateHeaders, LastValidValueWins) {
  const RateHeaders r = parse({{"x-ratelimit-remaining-requests", "5"},
                               {"x-ratelimit-reset-requests", "1s"},
                               {"x-ratelimit-remaining-requests", "7"},
                               {"x-ratelimit-reset-requests", "2s"},
                               {"x-ratelimit-remaining-tokens", "9"},
                               {"x-ratelimit-reset-tokens", "3s"},
                               {"x-ratelimit-remaining-tokens", "-1"},
                               {"x-ratelimit-reset-tokens", "soon"},
                               {"retry-after", "30"},
                               {"retry-after", "Sun, 99 Nov 1994 08:49:37 GMT"}});
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"requests", 7, 2 * kSec}, {"tokens", 9, 3 * kSec}}));
  EXPECT_EQ(r.retry_after_ns, 30 * kSec);
  EXPECT_EQ(r.malformed, 3u);

  const RateHeaders later = parse({{"retry-after", "30"}, {"retry-after", "10"}});
  EXPECT_EQ(later.retry_after_ns, 10 * kSec);
}

TEST(RateHeaders, OrphansGiveNoObservationAndAreNotMalformed) {
  const RateHeaders r = parse({{"x-ratelimit-remaining-requests", "5"},
                               {"x-ratelimit-reset-tokens", "1s"},
                               {"anthropic-ratelimit-input-tokens-remaining", "5"},
                               {"anthropic-ratelimit-output-tokens-reset", "2024-08-20T17:06:00Z"},
                               {"anthropic-ratelimit-output-tokens-remaining", "bad"}});
  EXPECT_TRUE(r.observations.empty());
  EXPECT_EQ(r.malformed, 1u);  // only "bad"
}

// Both families name "requests" and "tokens" alike; a remaining of one and a reset of the
// other pair up (documented: no provider sends both).
TEST(RateHeaders, FamiliesShareUnits) {
  const RateHeaders r = parse({{"x-ratelimit-remaining-tokens", "100"},
                               {"anthropic-ratelimit-tokens-reset", "2024-08-20T17:05:30Z"}});
  EXPECT_EQ(obs(r), (std::vector<Obs>{{"tokens", 100, 30 * kSec}}));
}

}  // namespace
}  // namespace ptl::core
