// SPDX-License-Identifier: MIT
#include "core/config.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/status.hpp"

namespace ptl::core {
namespace {

Status status_of(void (*fn)()) {
  try {
    fn();
  } catch (const StatusError& e) {
    return e.status();
  }
  return Status::kOk;
}

TEST(Config, RejectsZeroConcurrencyAndBadWindows) {
  EXPECT_EQ(status_of([] { BasicConfig{.max_concurrent = 0}.validate(); }), Status::kInvalid);
  EXPECT_EQ(status_of([] { BasicConfig{.window_seconds = NAN}.validate(); }), Status::kInvalid);
  EXPECT_EQ(status_of([] { BasicConfig{.window_seconds = 0}.validate(); }), Status::kInvalid);
  EXPECT_EQ(status_of([] { BasicConfig{.window_seconds = -1}.validate(); }), Status::kInvalid);
  EXPECT_EQ(status_of([] { BasicConfig{.window_seconds = INFINITY}.validate(); }),
            Status::kInvalid);
  EXPECT_EQ(status_of([] { BasicConfig{}.validate(); }), Status::kOk);
}

TEST(Config, NamesMustBeShortValidUtf8) {
  EXPECT_EQ(status_of([] { validate_name("openai"); }), Status::kOk);
  EXPECT_EQ(status_of([] { validate_name("\xE6\x97\xA5\xF0\x9F\x98\x80"); }), Status::kOk);
  EXPECT_EQ(status_of([] { validate_name(""); }), Status::kInvalid);
  EXPECT_EQ(status_of([] { validate_name(nullptr); }), Status::kInvalid);
  EXPECT_EQ(status_of([] { validate_name("\xC0\xAF"); }), Status::kInvalid);          // overlong
  EXPECT_EQ(status_of([] { validate_name("\xED\xA0\x80"); }), Status::kInvalid);      // surrogate
  EXPECT_EQ(status_of([] { validate_name("\xF4\x90\x80\x80"); }), Status::kInvalid);  // >10FFFF
  EXPECT_EQ(status_of([] { validate_name("ab\xE6\x97"); }), Status::kInvalid);        // truncated
  static const std::string k255(255, 'a'), k256(256, 'a');
  EXPECT_EQ(status_of([] { validate_name(k255.c_str()); }), Status::kOk);
  EXPECT_EQ(status_of([] { validate_name(k256.c_str()); }), Status::kInvalid);
}

}  // namespace
}  // namespace ptl::core
