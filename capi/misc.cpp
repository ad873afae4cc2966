// SPDX-License-Identifier: MIT
// Version, status names, last error and logging entry points.
#include "log/log.hpp"
#include "shim.hpp"

using ptl::capi::guarded;

extern "C" {

uint32_t ptl_version(void) {
  return PTL_VERSION_NUMBER;
}

const char* ptl_version_string(void) {
#define PTL_STR2(x) #x
#define PTL_STR(x) PTL_STR2(x)
  return PTL_STR(PTL_VERSION_MAJOR) "." PTL_STR(PTL_VERSION_MINOR) "." PTL_STR(PTL_VERSION_PATCH);
#undef PTL_STR
#undef PTL_STR2
}

const char* ptl_status_name(int status) {
  switch (status) {
    case PTL_OK:
      return "PTL_OK";
    case PTL_EINVAL:
      return "PTL_EINVAL";
    case PTL_ENOTFOUND:
      return "PTL_ENOTFOUND";
    case PTL_EEXIST:
      return "PTL_EEXIST";
    case PTL_ETIMEDOUT:
      return "PTL_ETIMEDOUT";
    case PTL_EAGAIN:
      return "PTL_EAGAIN";
    case PTL_ECANCELED:
      return "PTL_ECANCELED";
    case PTL_EBACKEND:
      return "PTL_EBACKEND";
    case PTL_ECLOSED:
      return "PTL_ECLOSED";
    case PTL_ENOMEM:
      return "PTL_ENOMEM";
    case PTL_ERATELIMITED:
      return "PTL_ERATELIMITED";
    case PTL_EITEMS:
      return "PTL_EITEMS";
    case PTL_EINTERNAL:
      return "PTL_EINTERNAL";
    default:
      return "PTL_UNKNOWN";
  }
}

const char* ptl_last_error(void) {
  return ptl::capi::last_error();
}

int ptl_log_set_level(int level) {
  return guarded("ptl_log_set_level", [&] {
    if (level < PTL_LOG_TRACE || level > PTL_LOG_OFF) {
      ptl::core::fail(ptl::core::Status::kInvalid,
                      "level " + std::to_string(level) + " is outside 0 (trace) .. 6 (off)");
    }
    ptl::log::set_level(level);
    return PTL_OK;
  });
}

void ptl_log_set_callback(ptl_log_fn fn, void* user) {
  guarded("ptl_log_set_callback", [&] {
    ptl::log::set_callback(fn, user);
    return PTL_OK;
  });
}

}  // extern "C"
