// SPDX-License-Identifier: MIT
// Limiter configs through every C ABI entry point: defaults, bad and extreme values.
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// ---- configs ---------------------------------------------------------------------------

TEST(CapiConfig, InitFillsDefaults) {
  ptl_limiter_config cfg;
  std::memset(&cfg, 0xAB, sizeof cfg);
  ptl_limiter_config_init(&cfg);
  EXPECT_EQ(cfg.struct_size, sizeof(ptl_limiter_config));
  EXPECT_EQ(cfg.max_concurrent, 5u);
  EXPECT_EQ(cfg.max_per_window, 0u);
  EXPECT_EQ(cfg.window_seconds, 60.0);
  EXPECT_EQ(cfg.max_cost_per_window, 0u);
  ptl_limiter_config_init(nullptr);  // does nothing, does not crash
}

TEST(CapiConfig, DefaultConfigIsAccepted) {
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  Lim lim = create_limiter(cfg);
  ASSERT_NE(lim.get(), nullptr);
  ptl_limiter_stats s = stats_of(lim);
  EXPECT_EQ(s.config.max_concurrent, 5u);
  EXPECT_EQ(s.config.max_per_window, 0u);
  EXPECT_EQ(s.config.window_seconds, 60.0);
  EXPECT_EQ(s.config.max_cost_per_window, 0u);
}

// Runs one bad config through every entry point that takes a config and expects
// PTL_EINVAL, a message mentioning `word`, and no limiter created or changed.
void expect_bad_config(const ptl_limiter_config& bad, const std::string& word) {
  SCOPED_TRACE("bad config, expected message about '" + word + "'");
  ptl_limiter* out = nullptr;
  EXPECT_EQ(ptl_limiter_create(&bad, &out), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions(word)) << ptl_last_error();

  Reg reg;
  EXPECT_EQ(ptl_registry_register(reg, "bad", &bad, 0), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions(word)) << ptl_last_error();
  EXPECT_EQ(ptl_registry_exists(reg, "bad"), 0);

  ptl_limiter* got = nullptr;
  EXPECT_EQ(ptl_registry_get_or_create(reg, "bad2", &bad, &got), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions(word)) << ptl_last_error();
  EXPECT_EQ(ptl_registry_exists(reg, "bad2"), 0);

  // PTL_REPLACE and reconfigure with a bad config leave the old config in force.
  ptl_limiter_config good = make_cfg(3, 7, 2.0, 11);
  ASSERT_EQ(ptl_registry_register(reg, "good", &good, 0), PTL_OK);
  EXPECT_EQ(ptl_registry_register(reg, "good", &bad, PTL_REPLACE), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions(word)) << ptl_last_error();
  ptl_limiter_stats s{};
  s.struct_size = sizeof s;
  ASSERT_EQ(ptl_registry_stats(reg, "good", &s), PTL_OK);
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.config.max_per_window, 7u);
  EXPECT_EQ(s.config.window_seconds, 2.0);
  EXPECT_EQ(s.config.max_cost_per_window, 11u);

  Lim lim = create_limiter(good);
  EXPECT_EQ(ptl_limiter_reconfigure(lim, &bad), PTL_EINVAL);
  EXPECT_TRUE(last_error_mentions(word)) << ptl_last_error();
  s = stats_of(lim);
  EXPECT_EQ(s.config.max_concurrent, 3u);
  EXPECT_EQ(s.config.max_per_window, 7u);
  EXPECT_EQ(s.config.window_seconds, 2.0);
  EXPECT_EQ(s.config.max_cost_per_window, 11u);
}

TEST(CapiConfig, ZeroMaxConcurrentIsInvalid) {
  expect_bad_config(make_cfg(0), "max_concurrent");
}

TEST(CapiConfig, BadWindowSecondsAreInvalid) {
  for (double w :
       {std::nan(""), -std::nan(""), double{INFINITY}, double{-INFINITY}, 0.0, -0.0, -1.0, -1e-9}) {
    SCOPED_TRACE(w);
    expect_bad_config(make_cfg(1, 10, w), "window");
  }
}

TEST(CapiConfig, BadWindowInvalidEvenWithoutThroughputLimit) {
  // window_seconds must be finite and > 0 whatever the other fields say.
  expect_bad_config(make_cfg(1, 0, std::nan("")), "window");
  expect_bad_config(make_cfg(1, 0, 0.0), "window");
}

TEST(CapiConfig, StructSizeTooSmallIsInvalid) {
  for (uint32_t size :
       {0u, 1u, 4u, static_cast<uint32_t>(offsetof(ptl_limiter_config, window_seconds))}) {
    SCOPED_TRACE(size);
    ptl_limiter_config cfg = make_cfg(1);
    cfg.struct_size = size;
    ptl_limiter* out = nullptr;
    EXPECT_EQ(ptl_limiter_create(&cfg, &out), PTL_EINVAL);
    EXPECT_STRNE(ptl_last_error(), "");
    Reg reg;
    EXPECT_EQ(ptl_registry_register(reg, "x", &cfg, 0), PTL_EINVAL);
    EXPECT_EQ(ptl_registry_exists(reg, "x"), 0);
  }
}

TEST(CapiConfig, ExtremeButValidWindows) {
  // Huge windows must not overflow into "no limit" or into negative retry times.
  for (double w : {1e9, 1e12, 1e300, DBL_MAX}) {
    SCOPED_TRACE(w);
    ptl_limiter_config cfg = make_cfg(4, 1, w);
    ptl_limiter* raw = nullptr;
    int rc = ptl_limiter_create(&cfg, &raw);
    ASSERT_TRUE(rc == PTL_OK || rc == PTL_EINVAL) << ptl_status_name(rc);
    if (rc == PTL_EINVAL) {
      EXPECT_TRUE(last_error_mentions("window")) << ptl_last_error();
      continue;
    }
    Lim lim(raw);
    ptl_permit p = 0;
    ASSERT_EQ(ptl_try_acquire(lim, &p, nullptr), PTL_OK);
    ASSERT_EQ(ptl_release(lim, p), PTL_OK);
    int64_t retry = 0;
    ptl_permit p2 = 0;
    EXPECT_EQ(ptl_try_acquire(lim, &p2, &retry), PTL_EAGAIN) << "window " << w << " s forgot";
    EXPECT_GT(retry, 0);
    EXPECT_EQ(ptl_acquire(lim, 20 * kMs, &p2), PTL_ETIMEDOUT);
    EXPECT_EQ(stats_of(lim).current_window_count, 1u);
  }
}

TEST(CapiConfig, TinyWindowIsHandled) {
  // 1e-12 s is finite and positive: either rejected, or a working (very short) window.
  ptl_limiter_config cfg = make_cfg(2, 1, 1e-12);
  ptl_limiter* raw = nullptr;
  int rc = ptl_limiter_create(&cfg, &raw);
  ASSERT_TRUE(rc == PTL_OK || rc == PTL_EINVAL) << ptl_status_name(rc);
  if (rc == PTL_OK) {
    Lim lim(raw);
    for (int i = 0; i < 3; ++i) {
      ptl_permit p = 0;
      ASSERT_EQ(ptl_acquire(lim, kSec, &p), PTL_OK) << ptl_last_error();
      ASSERT_EQ(ptl_release(lim, p), PTL_OK);
    }
    EXPECT_EQ(stats_of(lim).total_acquired, 3u);
  }
}

}  // namespace
}  // namespace ptl_test
