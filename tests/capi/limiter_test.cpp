// SPDX-License-Identifier: MIT
// Private limiters (ptl_limiter_create): reference counting, and privacy. Limiter
// behaviour common to every backend is in tests/conformance.
#include "capi_util.hpp"

namespace ptl_test {
namespace {

TEST(CapiLimiter, RefAndUnref) {
  ptl_limiter* raw = nullptr;
  ptl_limiter_config cfg = make_cfg(1);
  ASSERT_EQ(ptl_limiter_create(&cfg, &raw), PTL_OK);
  ptl_limiter_ref(raw);
  ptl_limiter_ref(raw);
  ptl_limiter_unref(raw);
  ptl_limiter_unref(raw);
  ptl_permit p = 0;
  ASSERT_EQ(ptl_acquire(raw, 0, &p), PTL_OK) << "freed before the last unref";
  EXPECT_EQ(ptl_release(raw, p), PTL_OK);
  ptl_limiter_unref(raw);  // the last one: ASan reports a leak otherwise
}

TEST(CapiLimiter, CreatedLimitersArePrivate) {
  Lim a = create_limiter(make_cfg(1));
  Lim b = create_limiter(make_cfg(1));
  ptl_permit p = 0, q = 0;
  ASSERT_EQ(ptl_acquire(a, 0, &p), PTL_OK);
  EXPECT_EQ(ptl_acquire(b, 0, &q), PTL_OK);
  EXPECT_EQ(ptl_release(a, p), PTL_OK);
  EXPECT_EQ(ptl_release(b, q), PTL_OK);
}

}  // namespace
}  // namespace ptl_test
