# SPDX-License-Identifier: MIT
# cmake -DOUT=script.cpp -DIN="common.lua;acquire.lua;..." -P embed_lua.cmake
# Joins the limiter's Lua files, in the order given, into one body and wraps it twice
# (lua/common.lua says why): as a library of Redis functions for FUNCTION LOAD, whose one
# function `ptl_<hash>` runs it, and as a script for SCRIPT LOAD. The name carries a hash
# of the body, so clients with different code never call each other's library. No Lua is
# needed at build time.
cmake_minimum_required(VERSION 3.20)
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "usage: cmake -DOUT=script.cpp -DIN=a.lua;b.lua -P embed_lua.cmake")
endif()

set(body "")
foreach(file IN LISTS IN)
  file(READ "${file}" text)
  if(text MATCHES "\\)ptl_lua\"")
    message(FATAL_ERROR "${file}: contains the raw-string delimiter )ptl_lua\"")
  endif()
  get_filename_component(name "${file}" NAME)
  string(APPEND body "-- ---- ${name}\n${text}\n")
endforeach()
string(SHA1 hash "${body}")
string(SUBSTRING "${hash}" 0 16 hash)
set(function "ptl_${hash}")

set(code "// Generated from src/registry/redis/lua/*.lua by embed_lua.cmake. Do not edit.
#include \"registry/redis/script.hpp\"

namespace ptl::core::redis {

std::string_view limiter_script() {
  static constexpr char kScript[] = R\"ptl_lua(${body}return run(KEYS, ARGV)
)ptl_lua\";
  return {kScript, sizeof kScript - 1};
}

std::string_view limiter_library() {
  static constexpr char kLibrary[] = R\"ptl_lua(#!lua name=${function}
${body}redis.register_function('${function}', run)
)ptl_lua\";
  return {kLibrary, sizeof kLibrary - 1};
}

std::string_view limiter_function() {
  return \"${function}\";
}

}  // namespace ptl::core::redis
")
# Rewritten only when it changes, so an unchanged script does not rebuild the core.
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL code)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${code}")
