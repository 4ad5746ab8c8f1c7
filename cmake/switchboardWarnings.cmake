# switchboard_warnings(<target>)
#
# Turns on the warnings the project holds its own code to, as errors. Call it only
# on the project's own test, example and benchmark targets: a library must never
# impose -Werror on the program that embeds it.
include_guard(GLOBAL)

function(switchboard_warnings target)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /WX /permissive-)
  elseif(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  endif()
endfunction()
