# SPDX-License-Identifier: MIT
# Lists what `#include <pocketflow_throttled/ptl.hpp>` reads and fails on anything outside
# the allowed set. Run by ctest with -DCXX=... -DINCLUDE_DIR=... -DWORK_DIR=...
set(allowed ptl.h ptl.hpp ptl_policy.hpp ptl_presets.hpp)

file(WRITE "${WORK_DIR}/light_header_probe.cpp" "#include <pocketflow_throttled/ptl.hpp>\n")
execute_process(
  COMMAND "${CXX}" -std=c++20 -I "${INCLUDE_DIR}" -M "${WORK_DIR}/light_header_probe.cpp"
  OUTPUT_VARIABLE deps ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ptl.hpp does not compile on its own:\n${err}")
endif()

string(REGEX REPLACE "[ \t\r\n\\\\]+" ";" deps "${deps}")
set(own 0)
foreach(dep IN LISTS deps)
  if(dep MATCHES "/pocketflow_throttled/([^/]+)$")
    list(FIND allowed "${CMAKE_MATCH_1}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "ptl.hpp includes ${CMAKE_MATCH_1}; only ${allowed} may come with it")
    endif()
    math(EXPR own "${own} + 1")
  elseif(dep MATCHES "/(boost|spdlog|fmt|hiredis)/")
    message(FATAL_ERROR "ptl.hpp pulls in a third-party header: ${dep}")
  endif()
endforeach()
if(own LESS 2)
  message(FATAL_ERROR "the probe did not see ptl.hpp at all; the dependency list was:\n${deps}")
endif()
message(STATUS "ptl.hpp reads ${own} of its own headers and the standard library only")
