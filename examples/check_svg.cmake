# SPDX-License-Identifier: MIT
# Smoke check of ptl-demo --svg: runs the demo and checks that the picture exists and is a
# well-formed SVG document. Run as
#   cmake -DDEMO=<ptl-demo> -DOUT=<file.svg> "-DARGS=--time-scale;60" -P check_svg.cmake
# Well-formedness is checked by xmllint or Python's XML parser when either is installed
# (neither is a build dependency); else by a structural check here: the XML declaration,
# one <svg> root, every element closed, no stray '&'.
foreach(var DEMO OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_svg.cmake: -D${var}= is required")
  endif()
endforeach()

file(REMOVE "${OUT}")
execute_process(COMMAND "${DEMO}" ${ARGS} --svg "${OUT}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ptl-demo exited with ${rc}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "ptl-demo did not write ${OUT}")
endif()

find_program(XMLLINT xmllint)
find_program(PYTHON3 NAMES python3)
if(XMLLINT)
  execute_process(COMMAND "${XMLLINT}" --noout "${OUT}" RESULT_VARIABLE rc ERROR_VARIABLE err)
  set(checker xmllint)
elseif(PYTHON3)
  execute_process(
    COMMAND "${PYTHON3}" -c
            "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); sys.exit(d.documentElement.tagName != 'svg')"
            "${OUT}"
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  set(checker python3)
else()
  set(checker "the structural check")
  file(READ "${OUT}" svg)
  string(REGEX MATCHALL "<[a-zA-Z]" opened "${svg}")
  string(REGEX MATCHALL "/>" self_closed "${svg}")
  string(REGEX MATCHALL "</[a-zA-Z]" closed "${svg}")
  string(REGEX MATCHALL "&" amps "${svg}")
  string(REGEX MATCHALL "&(amp|lt|gt|quot|apos);" entities "${svg}")
  list(LENGTH opened n_open)
  list(LENGTH self_closed n_self)
  list(LENGTH closed n_close)
  list(LENGTH amps n_amp)
  list(LENGTH entities n_ent)
  math(EXPR n_ends "${n_self} + ${n_close}")
  set(rc 0)
  if(NOT svg MATCHES "^<\\?xml version=\"1.0\" encoding=\"UTF-8\"\\?>\n<svg [^>]*xmlns=\"http://www.w3.org/2000/svg\"")
    set(rc 1)
    set(err "no XML declaration and <svg> root")
  elseif(NOT svg MATCHES "</svg>\n$")
    set(rc 1)
    set(err "does not end with </svg>")
  elseif(NOT n_open EQUAL n_ends)
    set(rc 1)
    set(err "${n_open} elements opened, ${n_ends} closed")
  elseif(NOT n_amp EQUAL n_ent)
    set(rc 1)
    set(err "a '&' that starts no entity")
  endif()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUT} is not well-formed (${checker}): ${err}")
endif()
file(SIZE "${OUT}" size)
message("${OUT}: ${size} bytes, well-formed (${checker})")
