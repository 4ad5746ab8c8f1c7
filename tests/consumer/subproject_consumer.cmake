# The part of the add_subdirectory and FetchContent consumers that comes after
# switchboard is part of the build: it must not have turned on its own tests,
# examples or install rules, and its targets must link into a warning-free program.
foreach(option SWITCHBOARD_BUILD_TESTS SWITCHBOARD_BUILD_EXAMPLES SWITCHBOARD_INSTALL)
  if(${option})
    message(FATAL_ERROR "${option} is ON in a subproject build")
  endif()
endforeach()

add_executable(consumer ${CMAKE_CURRENT_LIST_DIR}/main.cpp)
target_link_libraries(consumer PRIVATE switchboard::switchboard)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(consumer PRIVATE -Wall -Wextra -Wpedantic -Werror)
endif()

enable_testing()
add_test(NAME consumer COMMAND consumer)

# SWITCHBOARD_EXPECT_SQLITE: SQLite is there, so switchboard::sqlite must be built.
if(SWITCHBOARD_EXPECT_SQLITE)
  if(NOT TARGET switchboard::sqlite)
    message(FATAL_ERROR "switchboard::sqlite was not built although SQLite is installed")
  endif()
  add_executable(consumer_sqlite ${CMAKE_CURRENT_LIST_DIR}/sqlite_main.cpp)
  target_link_libraries(consumer_sqlite PRIVATE switchboard::sqlite)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(consumer_sqlite PRIVATE -Wall -Wextra -Wpedantic -Werror)
  endif()
  add_test(NAME consumer_sqlite COMMAND consumer_sqlite)
endif()
