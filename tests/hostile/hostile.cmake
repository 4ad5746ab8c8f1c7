# hostile_tests: known attacks replayed against a real pubsub_server process, with the
# server's memory, CPU and a bystander's latency bounded (tests/hostile/README.md).
# Included at the end of tests/CMakeLists.txt; needs the pubsub_server example.
if(TARGET pubsub_server)
  add_executable(hostile_tests ${CMAKE_CURRENT_LIST_DIR}/test_hostile.cpp)
  target_link_libraries(hostile_tests PRIVATE switchboard::core switchboard_test_main)
  switchboard_test_example_paths(hostile_tests)
  switchboard_warnings(hostile_tests)
  add_test(NAME hostile_tests COMMAND hostile_tests --durations yes)
  set_tests_properties(hostile_tests PROPERTIES
    RUN_SERIAL TRUE
    TIMEOUT 300
    LABELS hostile)
else()
  message(STATUS "switchboard: hostile_tests need the pubsub_server example "
    "(SWITCHBOARD_BUILD_EXAMPLES=ON); skipped")
endif()
