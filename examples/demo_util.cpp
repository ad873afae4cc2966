// SPDX-License-Identifier: MIT
#include "demo_util.hpp"

#include <cmath>
#include <random>

namespace demo {

std::string describe(const char* call, int status) {
  const std::string msg = ptl_last_error();
  const std::string head = std::string(ptl_status_name(status)) + ": ";
  if (msg.rfind(call, 0) == 0) return head + msg;
  return head + call + (msg.empty() ? "" : ": " + msg);
}

int register_limiter(const char* name, const ptl_limiter_config& cfg, std::string* note) {
  int st = ptl_registry_register(nullptr, name, &cfg, 0);
  if (st == PTL_EEXIST) {
    *note =
        "limiter \"" + std::string(name) + "\" existed already; its limits were replaced in place";
    st = ptl_registry_register(nullptr, name, &cfg, PTL_REPLACE);
  }
  return st;
}

std::vector<int64_t> draw_durations(uint64_t seed, size_t n, double min_ms, double max_ms,
                                    double time_scale) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out(n);
  for (auto& d : out) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // uniform in [0, 1)
    d = std::llround((min_ms + u * (max_ms - min_ms)) * 1e6 / time_scale);
  }
  return out;
}

}  // namespace demo
