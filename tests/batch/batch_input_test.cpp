// SPDX-License-Identifier: MIT
// Bad input to the batch entry points: a status and a message naming the problem, and
// nothing runs.
#include <gtest/gtest.h>
#include <pocketflow_throttled/ptl.h>

#include <cmath>
#include <string>

#include "batch_util.hpp"

namespace {

using ptl_test::batch_options;

int must_not_run(void*, ptl_batch*, size_t, uint32_t, int64_t*) {
  ADD_FAILURE() << "an item ran despite bad options";
  return PTL_OK;
}

void expect_rejected(const ptl_batch_options& o, const std::string& names) {
  EXPECT_EQ(ptl_batch_run(&o, 3, must_not_run, nullptr, nullptr, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find(names), std::string::npos)
      << "message: " << ptl_last_error();
  ptl_batch* b = nullptr;
  auto start = [](void*, ptl_batch*, size_t, uint32_t) { ADD_FAILURE() << "started"; };
  EXPECT_EQ(ptl_batch_start(&o, 3, start, nullptr, nullptr, &b), PTL_EINVAL);
  EXPECT_EQ(b, nullptr);
}

TEST(BatchInput, BadOptionsAreNamed) {
  EXPECT_EQ(ptl_batch_run(nullptr, 3, must_not_run, nullptr, nullptr, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("options"), std::string::npos);

  ptl_batch_options o = batch_options(2);
  o.struct_size = 0;
  expect_rejected(o, "struct_size");
  o = batch_options(0);
  expect_rejected(o, "max_concurrent");
  o = batch_options(2, 10, std::nan(""));
  expect_rejected(o, "window_seconds");
  o = batch_options(2);
  o.max_attempts = 0;
  expect_rejected(o, "max_attempts");
  o = batch_options(2);
  o.retry_wait_ns = -1;
  expect_rejected(o, "retry_wait_ns");
  o = batch_options(2);
  o.failure_policy = 7;
  expect_rejected(o, "failure_policy");
}

TEST(BatchInput, BadAdaptiveConfigIsNamed) {
  ptl_adaptive_config a;
  ptl_adaptive_config_init(&a);
  ptl_batch_options o = batch_options(0);  // ignored when adaptive
  o.adaptive = &a;
  a.min_concurrent = 0;
  expect_rejected(o, "min_concurrent");
  ptl_adaptive_config_init(&a);
  a.initial_concurrent = 50;
  expect_rejected(o, "initial_concurrent");
  ptl_adaptive_config_init(&a);
  a.backoff_factor = 1.0;
  expect_rejected(o, "backoff_factor");
  ptl_adaptive_config_init(&a);
  a.recovery_factor = std::nan("");
  expect_rejected(o, "recovery_factor");
  ptl_adaptive_config_init(&a);
  a.recovery_threshold = 0;
  expect_rejected(o, "recovery_threshold");
  ptl_adaptive_config_init(&a);
  a.struct_size = 4;
  expect_rejected(o, "struct_size");
}

TEST(BatchInput, DefaultsAreTheOriginals) {
  ptl_adaptive_config a;
  ptl_adaptive_config_init(&a);
  EXPECT_EQ(a.initial_concurrent, 5u);
  EXPECT_EQ(a.min_concurrent, 1u);
  EXPECT_EQ(a.max_concurrent, 20u);
  EXPECT_EQ(a.recovery_threshold, 10u);
  EXPECT_DOUBLE_EQ(a.backoff_factor, 0.5);
  EXPECT_DOUBLE_EQ(a.recovery_factor, 1.2);
  ptl_batch_options o;
  ptl_batch_options_init(&o);
  EXPECT_EQ(o.max_attempts, 1u);
  EXPECT_EQ(o.failure_policy, PTL_BATCH_COLLECT);
  EXPECT_EQ(o.limits.max_concurrent, 5u);
  EXPECT_EQ(o.shared, nullptr);
  EXPECT_EQ(o.adaptive, nullptr);
  ptl_batch_options_init(nullptr);
  ptl_adaptive_config_init(nullptr);
}

TEST(BatchInput, NullFunctionsAndHandles) {
  ptl_batch_options o = batch_options(2);
  EXPECT_EQ(ptl_batch_run(&o, 3, nullptr, nullptr, nullptr, nullptr), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("item function"), std::string::npos);
  ptl_batch* b = nullptr;
  EXPECT_EQ(ptl_batch_start(&o, 3, nullptr, nullptr, nullptr, &b), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("start function"), std::string::npos);
  auto start = [](void*, ptl_batch*, size_t, uint32_t) {};
  EXPECT_EQ(ptl_batch_start(&o, 3, start, nullptr, nullptr, nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_batch_complete(nullptr, 0, PTL_OK, -1), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("batch"), std::string::npos);
  EXPECT_EQ(ptl_batch_signal(nullptr, 0, -1), PTL_EINVAL);
  EXPECT_EQ(ptl_batch_wait(nullptr, 0), PTL_EINVAL);
  EXPECT_EQ(ptl_batch_cancel(nullptr), PTL_EINVAL);
  EXPECT_EQ(ptl_batch_report_get(nullptr, nullptr, nullptr, 0), PTL_EINVAL);
  ptl_batch_free(nullptr);
}

TEST(BatchInput, ReportStructTooSmallIsRejectedBeforeRunning) {
  ptl_batch_options o = batch_options(2);
  ptl_batch_report r{};
  r.struct_size = 8;
  EXPECT_EQ(ptl_batch_run(&o, 3, must_not_run, nullptr, nullptr, &r), PTL_EINVAL);
  EXPECT_NE(std::string(ptl_last_error()).find("struct_size"), std::string::npos);
}

TEST(BatchInput, StatusNameOfItems) {
  EXPECT_STREQ(ptl_status_name(PTL_EITEMS), "PTL_EITEMS");
}

}  // namespace
