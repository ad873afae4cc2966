# SPDX-License-Identifier: MIT
# PTL_THREAD_SAFETY: clang checks PTL_GUARDED_BY / PTL_REQUIRES (src/core/thread_annotations.hpp)
# in the library's own targets. GCC has no such analysis, so the option is a no-op there.
if(PTL_THREAD_SAFETY AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(WARNING "PTL_THREAD_SAFETY needs clang (CXX is ${CMAKE_CXX_COMPILER_ID}); ignored")
endif()

# ptl_target_defaults(<target>): warnings and sanitizers, per target (no global flags).
function(ptl_target_defaults target)
  target_compile_options(${target} PRIVATE
    $<$<OR:$<COMPILE_LANG_AND_ID:CXX,GNU,Clang>,$<COMPILE_LANG_AND_ID:C,GNU,Clang>>:
      -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>
    $<$<BOOL:${PTL_WARNINGS_AS_ERRORS}>:-Werror>)
  if(PTL_THREAD_SAFETY AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANG_AND_ID:CXX,Clang>:-Wthread-safety -Werror=thread-safety>)
  endif()
  if(PTL_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PTL_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${PTL_SANITIZE})
  endif()
  if(PTL_BUILD_FUZZERS AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Coverage for libFuzzer in every target; only tests/fuzz links -fsanitize=fuzzer.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
  get_target_property(_type ${target} TYPE)
  if((PTL_SANITIZE OR PTL_BUILD_FUZZERS) AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang"
     AND _type STREQUAL "SHARED_LIBRARY")
    # clang puts the sanitizer and libFuzzer runtimes into executables only; a shared
    # library's references to them resolve when it is loaded, so its -z defs must go.
    target_link_options(${target} PRIVATE -Wl,-z,undefs)
  endif()
endfunction()
