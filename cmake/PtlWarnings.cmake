# ptl_target_defaults(<target>): warnings and sanitizers, per target (no global flags).
function(ptl_target_defaults target)
  target_compile_options(${target} PRIVATE
    $<$<OR:$<COMPILE_LANG_AND_ID:CXX,GNU,Clang>,$<COMPILE_LANG_AND_ID:C,GNU,Clang>>:
      -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>
    $<$<BOOL:${PTL_WARNINGS_AS_ERRORS}>:-Werror>)
  if(PTL_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${PTL_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${PTL_SANITIZE})
  endif()
endfunction()
