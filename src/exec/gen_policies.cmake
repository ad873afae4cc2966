# SPDX-License-Identifier: MIT
# cmake -DIN=policies.csv -DOUT=policies_table.cpp [-DPRESETS=presets.csv] -P gen_policies.cmake
# Turns the provider policy table (see the comment at the top of policies.csv) into the C++
# table of exec/preset_policies.hpp. Checks every row and stops the build on the first bad
# one; with PRESETS, also refuses a policy named like a 0.1 preset of that file.
cmake_minimum_required(VERSION 3.20)
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR
    "usage: cmake -DIN=policies.csv -DOUT=policies_table.cpp [-DPRESETS=presets.csv] -P gen_policies.cmake")
endif()

include(${CMAKE_CURRENT_LIST_DIR}/gen_table.cmake)

# The names of the 0.1 presets (second column of presets.csv), which policies must not reuse.
set(preset_names "")
if(DEFINED PRESETS)
  ptl_csv_rows("${PRESETS}" preset_lines preset_numbers)
  foreach(line IN LISTS preset_lines)
    if(line MATCHES "^[^,]*,([^,]*),")
      list(APPEND preset_names "${CMAKE_MATCH_1}")
    endif()
  endforeach()
endif()

set(max_limits 16)  # core::kMaxLimits
set(nanos_per_second 1000000000)

set(names "")        # every policy seen so far
set(limits_rows "")  # the C++ rows of kLimits
set(policy_rows "")  # the C++ rows of kPolicies
set(n_limits 0)      # rows in kLimits so far
set(current "")      # the policy whose rows are being read

# Closes the policy being read: appends its row to policy_rows.
macro(close_policy)
  if(NOT current STREQUAL "")
    math(EXPR count "${n_limits} - ${first}")
    list(JOIN cur_sources " " sources_joined)
    string(APPEND policy_rows
      "    {\"${current}\", \"${cur_desc}\", \"${cur_date}\", \"${sources_joined}\", "
      "std::span<const PresetLimit>(kLimits + ${first}, ${count})},\n")
  endif()
endmacro()

ptl_csv_rows("${IN}" lines numbers)
foreach(line lineno IN ZIP_LISTS lines numbers)
  set(where "${IN}:${lineno}")
  # Six fields, then the description (which may hold commas, and may be empty).
  ptl_csv_split("${line}" 6 fields desc)
  if(fields STREQUAL "")
    message(FATAL_ERROR "${where}: expected 7 comma-separated columns "
                        "(policy,unit,max,window,source_date,source,description): ${line}")
  endif()
  list(GET fields 0 name)
  list(GET fields 1 unit)
  list(GET fields 2 max)
  list(GET fields 3 window)
  list(GET fields 4 date)
  list(GET fields 5 source)

  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "${where}: policy '${name}' is not lower-case [a-z][a-z0-9_]*")
  endif()
  if(NOT unit MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "${where}: unit '${unit}' may hold only a-z, 0-9 and '_'")
  endif()
  string(LENGTH "${unit}" unit_len)
  if(unit_len GREATER 32)
    message(FATAL_ERROR "${where}: unit '${unit}' is longer than 32 bytes")
  endif()
  # At most 19 digits: every such number fits in uint64_t.
  if(NOT max MATCHES "^[1-9][0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?$")
    message(FATAL_ERROR "${where}: max '${max}' is not a positive integer of at most 19 digits")
  endif()
  # Whole seconds, 1 .. 999999999 (core::kMaxWindowNs is 1e9 s).
  if(NOT window MATCHES "^([1-9][0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?)s$")
    message(FATAL_ERROR "${where}: window '${window}' is not <seconds>s with 1..999999999 seconds")
  endif()
  math(EXPR window_ns "${CMAKE_MATCH_1} * ${nanos_per_second}")
  if(NOT date MATCHES "^20[0-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
    message(FATAL_ERROR "${where}: source_date '${date}' is not YYYY-MM-DD")
  endif()
  if(NOT source MATCHES "^https?://[^ \t\"\\\\]+$")
    message(FATAL_ERROR "${where}: source '${source}' is not an http(s) URL")
  endif()

  if(NOT name STREQUAL current)
    # A new policy starts here.
    if(name IN_LIST names)
      message(FATAL_ERROR "${where}: policy '${name}' appears twice (its rows must be adjacent)")
    endif()
    if(name IN_LIST preset_names)
      message(FATAL_ERROR "${where}: policy '${name}' is also a preset of ${PRESETS}")
    endif()
    if(desc STREQUAL "")
      message(FATAL_ERROR "${where}: the first row of policy '${name}' needs a description")
    endif()
    close_policy()
    list(APPEND names "${name}")
    set(current "${name}")
    set(first ${n_limits})
    set(cur_date "${date}")
    set(cur_sources "")
    set(cur_keys "")
    ptl_c_string(desc)
    set(cur_desc "${desc}")
  else()
    if(NOT desc STREQUAL "")
      message(FATAL_ERROR "${where}: only the first row of policy '${name}' has a description")
    endif()
    if(NOT date STREQUAL cur_date)
      message(FATAL_ERROR "${where}: source_date '${date}' differs from '${cur_date}' "
                          "on the policy's first row")
    endif()
  endif()

  set(key "${unit}/${window_ns}")
  if(key IN_LIST cur_keys)
    message(FATAL_ERROR "${where}: policy '${name}' has '${unit}' per ${window} twice")
  endif()
  list(APPEND cur_keys "${key}")
  list(LENGTH cur_keys cur_count)
  if(cur_count GREATER max_limits)
    message(FATAL_ERROR "${where}: policy '${name}' has more than ${max_limits} limits")
  endif()
  if(NOT source IN_LIST cur_sources)
    list(APPEND cur_sources "${source}")
  endif()

  string(APPEND limits_rows "    {\"${unit}\", ${max}ULL, ${window_ns}LL},  // ${name}\n")
  math(EXPR n_limits "${n_limits} + 1")
endforeach()
close_policy()
if(policy_rows STREQUAL "")
  message(FATAL_ERROR "${IN}: no policies")
endif()

ptl_write_table("${OUT}" "${IN}" "${CMAKE_CURRENT_LIST_FILE}"
  "#include <span>\n\n#include \"exec/preset_policies.hpp\"\n"
  "constexpr PresetLimit kLimits[] = {\n${limits_rows}};\n
constexpr PolicyPresetEntry kPolicies[] = {\n${policy_rows}};\n"
  "std::span<const PolicyPresetEntry> preset_policies() noexcept {\n  return kPolicies;\n}\n")
