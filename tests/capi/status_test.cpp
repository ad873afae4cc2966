// SPDX-License-Identifier: MIT
// C ABI version, status names and the thread-local last error.
#include <climits>
#include <string>
#include <vector>

#include "capi_util.hpp"

namespace ptl_test {
namespace {

// ---- version, status names, last error ----------------------------------------------

TEST(CapiVersion, MatchesHeader) {
  EXPECT_EQ(ptl_version(), static_cast<uint32_t>(PTL_VERSION_NUMBER));
  ASSERT_NE(ptl_version_string(), nullptr);
  const std::string expected = std::to_string(PTL_VERSION_MAJOR) + "." +
                               std::to_string(PTL_VERSION_MINOR) + "." +
                               std::to_string(PTL_VERSION_PATCH);
  EXPECT_EQ(std::string(ptl_version_string()), expected);
}

TEST(CapiStatus, NameOfEveryCode) {
  const std::vector<std::pair<int, const char*>> codes = {
      {PTL_OK, "PTL_OK"},
      {PTL_EINVAL, "PTL_EINVAL"},
      {PTL_ENOTFOUND, "PTL_ENOTFOUND"},
      {PTL_EEXIST, "PTL_EEXIST"},
      {PTL_ETIMEDOUT, "PTL_ETIMEDOUT"},
      {PTL_EAGAIN, "PTL_EAGAIN"},
      {PTL_ECANCELED, "PTL_ECANCELED"},
      {PTL_EBACKEND, "PTL_EBACKEND"},
      {PTL_ECLOSED, "PTL_ECLOSED"},
      {PTL_ENOMEM, "PTL_ENOMEM"},
      {PTL_ERATELIMITED, "PTL_ERATELIMITED"},
      {PTL_EINTERNAL, "PTL_EINTERNAL"},
  };
  for (auto [code, name] : codes) {
    ASSERT_NE(ptl_status_name(code), nullptr) << code;
    EXPECT_STREQ(ptl_status_name(code), name) << code;
  }
  EXPECT_EQ(PTL_OK, 0);
  EXPECT_EQ(PTL_EINVAL, -1);
  EXPECT_EQ(PTL_ENOTFOUND, -2);
  EXPECT_EQ(PTL_EEXIST, -3);
  EXPECT_EQ(PTL_ETIMEDOUT, -4);
  EXPECT_EQ(PTL_EAGAIN, -5);
  EXPECT_EQ(PTL_ECANCELED, -6);
  EXPECT_EQ(PTL_EBACKEND, -7);
  EXPECT_EQ(PTL_ECLOSED, -8);
  EXPECT_EQ(PTL_ENOMEM, -9);
  EXPECT_EQ(PTL_ERATELIMITED, -10);
  EXPECT_EQ(PTL_EINTERNAL, -99);
}

TEST(CapiStatus, UnknownCodesHaveAName) {
  for (int code : {1, 2, -12, -98, -100, 12345, INT_MAX, INT_MIN}) {
    ASSERT_NE(ptl_status_name(code), nullptr) << code;
    EXPECT_STREQ(ptl_status_name(code), "PTL_UNKNOWN") << code;
  }
}

TEST(CapiLastError, NeverNullAndThreadLocal) {
  // A fresh thread has no error yet: "" (never NULL).
  std::string fresh = "unset";
  std::thread([&] {
    const char* e = ptl_last_error();
    fresh = e ? e : "NULL";
  }).join();
  EXPECT_EQ(fresh, "");

  // An error on this thread does not show on another thread.
  ASSERT_EQ(ptl_limiter_create(nullptr, nullptr), PTL_EINVAL);
  ASSERT_NE(ptl_last_error(), nullptr);
  EXPECT_STRNE(ptl_last_error(), "");
  std::string other = "unset";
  std::thread([&] {
    const char* e = ptl_last_error();
    other = e ? e : "NULL";
  }).join();
  EXPECT_EQ(other, "");

  // ... and an error on another thread does not overwrite this thread's message.
  const std::string mine = ptl_last_error();
  std::thread([] {
    ptl_limiter_config cfg = make_cfg(0);
    ptl_limiter* l = nullptr;
    EXPECT_EQ(ptl_limiter_create(&cfg, &l), PTL_EINVAL);
  }).join();
  EXPECT_EQ(std::string(ptl_last_error()), mine);
}

}  // namespace
}  // namespace ptl_test
