# SPDX-License-Identifier: MIT
# What gen_presets.cmake and gen_policies.cmake share: reading a CSV table whose last column
# is free text, and writing the generated C++ file around the rows they build.

# ptl_csv_rows(<file> <out_lines> <out_numbers>): the lines of <file> that are not blank or
# comments (#), and their 1-based line numbers, for messages.
function(ptl_csv_rows file out_lines out_numbers)
  file(STRINGS "${file}" all ENCODING UTF-8)
  set(kept "")
  set(numbers "")
  set(n 0)
  foreach(line IN LISTS all)
    math(EXPR n "${n} + 1")
    if(NOT line MATCHES "^[ \t]*(#|$)")
      list(APPEND kept "${line}")
      list(APPEND numbers ${n})
    endif()
  endforeach()
  set(${out_lines} "${kept}" PARENT_SCOPE)
  set(${out_numbers} "${numbers}" PARENT_SCOPE)
endfunction()

# ptl_csv_split(<line> <count> <out_fields> <out_text>): the first <count> comma-separated
# fields of <line> as a list (none may hold ';'), and the rest of the line, which may hold
# commas. <out_fields> is empty if the line has fewer fields.
function(ptl_csv_split line count out_fields out_text)
  string(REPEAT "[^,;]*," ${count} pattern)
  string(REGEX MATCH "^${pattern}" head "${line}")
  set(fields "")
  set(text "")
  if(NOT head STREQUAL "")
    string(LENGTH "${head}" head_len)
    string(SUBSTRING "${line}" ${head_len} -1 text)
    string(REGEX REPLACE ",$" "" head "${head}")
    string(REPLACE "," ";" fields "${head}")
  endif()
  set(${out_fields} "${fields}" PARENT_SCOPE)
  set(${out_text} "${text}" PARENT_SCOPE)
endfunction()

# ptl_c_string(<var>): escapes <var>'s value for a C string literal, in place.
macro(ptl_c_string var)
  string(REPLACE "\\" "\\\\" ${var} "${${var}}")
  string(REPLACE "\"" "\\\"" ${var} "${${var}}")
endmacro()

# ptl_write_table(<out> <csv> <script> <includes> <tables> <accessor>): the generated source,
# in namespace ptl::exec, with the tables in an unnamed namespace (which clang-format leaves
# as written) and the accessor after them. Positional: the C++ text holds semicolons, which
# keyword arguments would split.
function(ptl_write_table out csv script includes tables accessor)
  get_filename_component(from "${csv}" NAME)
  get_filename_component(by "${script}" NAME)
  file(WRITE "${out}" "// Generated from ${from} by ${by}. Do not edit.
${includes}
namespace ptl::exec {
namespace {
// clang-format off
${tables}// clang-format on
}  // namespace

${accessor}
}  // namespace ptl::exec
")
endfunction()
