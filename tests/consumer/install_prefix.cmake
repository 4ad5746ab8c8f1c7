# Installs the build tree into a fresh prefix for the find_package consumer tests.
#   cmake -D BUILD_DIR=<build tree> -D PREFIX=<prefix> [-D CONFIG=<config>] -P install_prefix.cmake
foreach(var BUILD_DIR PREFIX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_prefix.cmake: ${var} is not set")
  endif()
endforeach()

# A fresh prefix, so a header or target removed from the project cannot linger.
file(REMOVE_RECURSE "${PREFIX}")

set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${result}")
endif()
if(NOT EXISTS "${PREFIX}")
  message(FATAL_ERROR "cmake --install wrote nothing to ${PREFIX}")
endif()
