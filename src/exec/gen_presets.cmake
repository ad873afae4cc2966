# cmake -DIN=presets.csv -DOUT=presets_table.cpp -P gen_presets.cmake
# Turns the preset table (see the comment at the top of presets.csv) into the C++ table
# of exec/presets.hpp. Checks every row and stops the build on the first bad one.
cmake_minimum_required(VERSION 3.20)
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "usage: cmake -DIN=presets.csv -DOUT=presets_table.cpp -P gen_presets.cmake")
endif()

file(STRINGS "${IN}" lines ENCODING UTF-8)
set(uint "^[0-9]+$")
set(real "^[0-9]+(\\.[0-9]+)?$")
set(names "")
set(rows "")
set(lineno 0)
foreach(line IN LISTS lines)
  math(EXPR lineno "${lineno} + 1")
  if(line MATCHES "^[ \t]*(#|$)")
    continue()
  endif()
  set(where "${IN}:${lineno}")
  # Nine fields, then the description (which may hold commas).
  string(REGEX MATCH "^[^,;]*,[^,;]*,[^,;]*,[^,;]*,[^,;]*,[^,;]*,[^,;]*,[^,;]*,[^,;]*," head "${line}")
  string(LENGTH "${head}" head_len)
  string(SUBSTRING "${line}" ${head_len} -1 desc)
  if(head STREQUAL "" OR desc STREQUAL "")
    message(FATAL_ERROR "${where}: expected 10 comma-separated columns: ${line}")
  endif()
  string(REPLACE "," ";" fields "${head}")
  list(GET fields 0 kind)
  list(GET fields 1 name)
  list(GET fields 2 conc)
  list(GET fields 3 rpm)
  list(GET fields 4 amin)
  list(GET fields 5 amax)
  list(GET fields 6 backoff)
  list(GET fields 7 rthresh)
  list(GET fields 8 rfactor)

  if(kind STREQUAL "node")
    set(ckind kNode)
  elseif(kind STREQUAL "flow")
    set(ckind kFlow)
  elseif(kind STREQUAL "adaptive_flow")
    set(ckind kAdaptiveFlow)
  else()
    message(FATAL_ERROR "${where}: kind '${kind}' is not node, flow or adaptive_flow")
  endif()
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "${where}: name '${name}' is not lower-case [a-z][a-z0-9_]*")
  endif()
  if(name IN_LIST names)
    message(FATAL_ERROR "${where}: name '${name}' appears twice")
  endif()
  list(APPEND names "${name}")
  if(NOT conc MATCHES "${uint}" OR conc EQUAL 0)
    message(FATAL_ERROR "${where}: concurrent '${conc}' is not a positive integer")
  endif()
  if(rpm STREQUAL "")
    set(rpm 0)
  elseif(NOT rpm MATCHES "${uint}" OR rpm EQUAL 0)
    message(FATAL_ERROR "${where}: per_minute '${rpm}' is not a positive integer or empty")
  endif()
  if(ckind STREQUAL "kAdaptiveFlow")
    if(NOT amin MATCHES "${uint}" OR NOT amax MATCHES "${uint}" OR NOT rthresh MATCHES "${uint}"
       OR NOT backoff MATCHES "${real}" OR NOT rfactor MATCHES "${real}")
      message(FATAL_ERROR "${where}: an adaptive_flow needs min, max, backoff, recovery_after, recovery")
    endif()
    if(amin EQUAL 0 OR amin GREATER conc OR conc GREATER amax)
      message(FATAL_ERROR "${where}: needs 1 <= min <= concurrent <= max")
    endif()
  else()
    if(NOT "${amin}${amax}${backoff}${rthresh}${rfactor}" STREQUAL "")
      message(FATAL_ERROR "${where}: min .. recovery are for adaptive_flow rows only")
    endif()
    set(amin 0)
    set(amax 0)
    set(backoff 0)
    set(rthresh 0)
    set(rfactor 0)
  endif()
  string(REPLACE "\\" "\\\\" desc "${desc}")
  string(REPLACE "\"" "\\\"" desc "${desc}")
  string(APPEND rows
    "    {\"${name}\", \"${desc}\", PresetKind::${ckind}, ${conc}, ${rpm}, "
    "${amin}, ${amax}, ${backoff}, ${rthresh}, ${rfactor}},\n")
endforeach()
if(rows STREQUAL "")
  message(FATAL_ERROR "${IN}: no presets")
endif()

get_filename_component(in_name "${IN}" NAME)
set(content "// Generated from ${in_name} by gen_presets.cmake. Do not edit.
#include \"exec/presets.hpp\"

namespace ptl::exec {
namespace {
// clang-format off
constexpr Preset kPresets[] = {
${rows}};
// clang-format on
}  // namespace

std::span<const Preset> presets() noexcept {
  return kPresets;
}

}  // namespace ptl::exec
")
file(WRITE "${OUT}" "${content}")
