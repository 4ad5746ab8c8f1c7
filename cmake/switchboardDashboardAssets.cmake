# Embeds the dashboard's files (clients/dashboard/dashboard.html and
# clients/js/switchboard.js) into a generated header, detail/dashboard_assets.hpp, at
# configure time: the library serves them from memory, with nothing to install beside
# the headers and nothing to build in another language.
#
# Sets SWITCHBOARD_GENERATED_INCLUDE_DIR (add it to the include path) and
# SWITCHBOARD_DASHBOARD_ASSETS_HEADER (install it with the headers). Editing either
# file re-runs the configure step.
include_guard(GLOBAL)

# Each chunk stays far below the longest string literal every compiler takes (MSVC:
# 16 KiB per literal); the header joins them at run time.
set(_switchboard_asset_chunk_bytes 8000)
set(_switchboard_asset_delimiter "sb_asset")

# _switchboard_asset_chunks(<out-var> <file>): the file as a list of raw string
# literals, one per line, for an array initializer.
function(_switchboard_asset_chunks out file)
  file(READ "${file}" content)
  # ASCII only, without carriage returns: a literal then holds the file's bytes exactly,
  # whatever the compiler's source character set.
  if(content MATCHES "[^\t\n -~]")
    message(FATAL_ERROR "switchboard: ${file} must be ASCII without carriage returns, to be embedded")
  endif()
  string(FIND "${content}" ")${_switchboard_asset_delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "switchboard: ${file} contains the raw string delimiter ${_switchboard_asset_delimiter}")
  endif()
  string(LENGTH "${content}" length)
  set(literals "")
  set(offset 0)
  while(offset LESS length)
    string(SUBSTRING "${content}" ${offset} ${_switchboard_asset_chunk_bytes} chunk)
    string(APPEND literals "    R\"${_switchboard_asset_delimiter}(${chunk})${_switchboard_asset_delimiter}\",\n")
    math(EXPR offset "${offset} + ${_switchboard_asset_chunk_bytes}")
  endwhile()
  set(${out} "${literals}" PARENT_SCOPE)
endfunction()

set(_switchboard_dashboard_page "${PROJECT_SOURCE_DIR}/clients/dashboard/dashboard.html")
set(_switchboard_dashboard_script "${PROJECT_SOURCE_DIR}/clients/js/switchboard.js")
set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  "${_switchboard_dashboard_page}" "${_switchboard_dashboard_script}"
  "${PROJECT_SOURCE_DIR}/cmake/dashboard_assets.hpp.in")
_switchboard_asset_chunks(SWITCHBOARD_DASHBOARD_PAGE_CHUNKS "${_switchboard_dashboard_page}")
_switchboard_asset_chunks(SWITCHBOARD_DASHBOARD_SCRIPT_CHUNKS "${_switchboard_dashboard_script}")

set(SWITCHBOARD_GENERATED_INCLUDE_DIR "${PROJECT_BINARY_DIR}/generated/include")
set(SWITCHBOARD_DASHBOARD_ASSETS_HEADER
  "${SWITCHBOARD_GENERATED_INCLUDE_DIR}/switchboard/detail/dashboard_assets.hpp")
# configure_file rewrites the header only when its text changes: no needless rebuilds.
configure_file("${PROJECT_SOURCE_DIR}/cmake/dashboard_assets.hpp.in"
  "${SWITCHBOARD_DASHBOARD_ASSETS_HEADER}" @ONLY)
