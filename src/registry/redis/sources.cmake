# SPDX-License-Identifier: MIT
# The redis:// backend, included by src/CMakeLists.txt when PTL_WITH_REDIS is on.
# hiredis (Debian's libhiredis-dev, found through pkg-config) is linked privately: the
# shared library needs it at run time, but exports none of it (capi/ptl.map).
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET GLOBAL hiredis)

set(_redis ${CMAKE_CURRENT_LIST_DIR})
target_sources(ptl_core PRIVATE
  ${_redis}/backend.cpp
  ${_redis}/connection.cpp
  ${_redis}/link.cpp
  ${_redis}/redis_limiter.cpp
  ${_redis}/redis_limiter_policy.cpp
  ${_redis}/redis_limiter_session.cpp
  ${_redis}/redis_limiter_wait.cpp
  ${_redis}/redis_registry.cpp
  ${_redis}/reply.cpp
  ${_redis}/scheduler.cpp
  ${_redis}/subscriber.cpp
  ${_redis}/uri.cpp)
target_link_libraries(ptl_core PRIVATE PkgConfig::HIREDIS)
target_compile_definitions(ptl_core PRIVATE PTL_WITH_REDIS=1)

# The Lua files, in the order the script needs them (helpers first, dispatch last).
set(_lua common window grants acquire release cancel session policy admin main)
list(TRANSFORM _lua PREPEND ${_redis}/lua/)
list(TRANSFORM _lua APPEND .lua)
set(_script_cpp ${CMAKE_CURRENT_BINARY_DIR}/registry/redis/script.cpp)
add_custom_command(
  OUTPUT ${_script_cpp}
  COMMAND ${CMAKE_COMMAND} "-DIN=${_lua}" -DOUT=${_script_cpp} -P ${_redis}/embed_lua.cmake
  DEPENDS ${_lua} ${_redis}/embed_lua.cmake
  COMMENT "Embedding the redis:// limiter script"
  VERBATIM)
target_sources(ptl_core PRIVATE ${_script_cpp})
