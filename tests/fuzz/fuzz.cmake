# fuzz_websocket_reader, fuzz_http_parser, fuzz_access_rules, fuzz_jwt: libFuzzer targets
# for the socket-free parsers and the token verifier (tests/fuzz/README.md). Included
# from tests/CMakeLists.txt. They need Clang's libFuzzer, so other compilers skip them.
#
# Each CTest test fuzzes for 30 seconds, starting from a copy of the seed corpus made in
# the build tree, so that what the run adds never lands in the repository.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(STATUS "switchboard: the fuzz targets need Clang (libFuzzer); skipped")
  return()
endif()

set(switchboard_fuzz_flags -fsanitize=fuzzer,address,undefined)
# What the sanitizers skip: RapidJSON's own arithmetic (sanitizer_ignorelist.txt says why).
set(switchboard_fuzz_ignorelist_file "${CMAKE_CURRENT_LIST_DIR}/sanitizer_ignorelist.txt")
set(switchboard_fuzz_ignorelist "-fsanitize-ignorelist=${switchboard_fuzz_ignorelist_file}")
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)
cmake_push_check_state(RESET)
# The flags reach the link too, where libFuzzer brings main().
set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
check_cxx_source_compiles(
  "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }"
  SWITCHBOARD_HAVE_LIBFUZZER)
cmake_pop_check_state()
if(NOT SWITCHBOARD_HAVE_LIBFUZZER)
  message(STATUS "switchboard: Clang cannot link libFuzzer here (Debian: libclang-rt-dev); fuzz targets skipped")
  return()
endif()

foreach(parser websocket_reader http_parser access_rules jwt)
  set(target fuzz_${parser})
  add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp)
  if(parser STREQUAL "jwt")
    # The token verifier signs and verifies with libsodium.
    target_link_libraries(${target} PRIVATE switchboard::security)
  else()
    target_link_libraries(${target} PRIVATE switchboard::core)
  endif()
  # UBSan findings abort like ASan's, so libFuzzer records them as crashes.
  target_compile_options(${target} PRIVATE
    ${switchboard_fuzz_flags} ${switchboard_fuzz_ignorelist} -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  target_link_options(${target} PRIVATE ${switchboard_fuzz_flags})
  # An edit of the ignore list rebuilds the targets it shapes.
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/${target}.cpp PROPERTIES
    OBJECT_DEPENDS "${switchboard_fuzz_ignorelist_file}")
  switchboard_warnings(${target})

  add_test(NAME ${target}
    COMMAND ${CMAKE_COMMAND}
      -D "FUZZER=$<TARGET_FILE:${target}>"
      -D "SEED_CORPUS=${CMAKE_CURRENT_LIST_DIR}/corpus/${parser}"
      -D "WORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/fuzz/${parser}"
      -D "SECONDS=30"
      -P "${CMAKE_CURRENT_LIST_DIR}/run_fuzzer.cmake")
  set_tests_properties(${target} PROPERTIES TIMEOUT 120 LABELS fuzz)
endforeach()
