// SPDX-License-Identifier: MIT
// ptl_fuzz_headers: the input is a set of response headers for ptl_observe_headers, one
// "name:value" per line (a line without ':' has a NULL value; one starting with 0x01 a NULL
// name). Whatever they say, on a limiter counting every unit the parser knows:
// - the call returns how many observations it applied (at most one per unit and one
//   Retry-After: 0..5) and never fails on a header value;
// - afterwards every limit's usage can be read: nothing counted as used, and a windowed
//   limit always tells when the next unit fits;
// - an acquire then either is granted or is refused as no capacity (an observation or a
//   Retry-After may hold it), never anything else; nothing crashes, leaks or hangs.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"

namespace {

constexpr const char* kUnits[] = {"requests", "tokens", "input_tokens", "output_tokens"};
constexpr int64_t kWindow = 60'000'000'000;

ptl_limiter* limiter() {
  ptl_limit limits[4];
  for (int i = 0; i < 4; ++i) limits[i] = {kUnits[i], 1'000'000, kWindow};
  ptl_policy p;
  ptl_policy_init(&p);
  p.n_limits = 4;
  p.limits = limits;
  ptl_limiter* lim = nullptr;
  const int rc = ptl_limiter_create_policy(&p, &lim);
  ptl_fuzz::require(rc == PTL_OK, "ptl_limiter_create_policy", rc, "a valid policy was refused");
  return lim;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> names_s, values_s;
  std::vector<bool> null_name, null_value;
  for (size_t start = 0; start <= in.size() && names_s.size() < 64;) {
    size_t end = in.find('\n', start);
    if (end == std::string_view::npos) end = in.size();
    std::string line(in.substr(start, end - start));
    line = line.substr(0, line.find('\0'));
    const size_t colon = line.find(':');
    null_name.push_back(!line.empty() && line[0] == '\x01');
    null_value.push_back(colon == std::string::npos);
    names_s.push_back(line.substr(0, colon));
    values_s.push_back(colon == std::string::npos ? "" : line.substr(colon + 1));
    start = end + 1;
  }
  std::vector<const char*> names, values;
  for (size_t i = 0; i < names_s.size(); ++i) {
    names.push_back(null_name[i] ? nullptr : names_s[i].c_str());
    values.push_back(null_value[i] ? nullptr : values_s[i].c_str());
  }
  ptl_limiter* lim = limiter();
  const int applied = ptl_observe_headers(lim, names.size(), names.data(), values.data());
  ptl_fuzz::require(applied >= 0 && applied <= 5, "ptl_observe_headers", applied,
                    "not a count of at most one observation per unit plus Retry-After");
  for (const char* unit : kUnits) {
    ptl_usage u{};
    u.struct_size = sizeof u;
    const int rc = ptl_limiter_usage(lim, unit, kWindow, &u);
    ptl_fuzz::require(rc == PTL_OK, "ptl_limiter_usage", rc, "a limit of the policy unread");
    ptl_fuzz::require(u.used == 0, "ptl_limiter_usage", rc, "an observation counted as use");
    ptl_fuzz::require(u.next_room_ns >= 0, "ptl_limiter_usage", rc,
                      "a windowed limit said only a release can make room");
  }
  ptl_permit permit = 0;
  const int rc = ptl_acquire(lim, 0, &permit);
  ptl_fuzz::expect("ptl_acquire", rc, {PTL_OK, PTL_EAGAIN});
  if (rc == PTL_OK) ptl_fuzz::expect("ptl_release", ptl_release(lim, permit), {PTL_OK});
  ptl_limiter_unref(lim);
  return 0;
}
