# Finds switchboard's public dependencies and gives each one a target name that is
# the same whether it came from Debian packages, vcpkg or Conan:
#
#   asio::asio            standalone Asio (ASIO_STANDALONE defined)
#   RapidJSON::RapidJSON  RapidJSON headers
#   OpenSSL::SSL          TLS for the WebSocket transport
#   switchboard_sodium    libsodium, from whichever of vcpkg, Conan, pkg-config or a
#                         plain header and library search found it
#   switchboard_sqlite3   SQLite 3, optional: for switchboard::sqlite only. When it is
#                         not found, SWITCHBOARD_SQLITE3_FOUND is FALSE and nothing is
#                         listed as missing
#
# Threads::Threads must exist before this file is included (find_package(Threads)
# at the top level, find_dependency(Threads) in switchboardConfig.cmake).
#
# This file is included by the top-level CMakeLists.txt and installed beside
# switchboardConfig.cmake, so a consumer of the installed package gets exactly the
# targets the library was built against. It never stops the configure step itself:
# it lists what it could not find in SWITCHBOARD_MISSING_DEPENDENCIES and the caller
# decides how to fail (FATAL_ERROR at the top level, switchboard_FOUND=FALSE in a
# package config file).
#
# Imported targets are visible only in the directory that created them and below,
# so this file may run more than once (once per directory that finds the package);
# every step is guarded by if(NOT TARGET ...).

set(SWITCHBOARD_MISSING_DEPENDENCIES "")

# --- standalone Asio ------------------------------------------------------------
# vcpkg and Conan ship an asio::asio target; Debian's libasio-dev ships headers only.
if(NOT TARGET asio::asio)
  find_package(asio CONFIG QUIET)
endif()
if(NOT TARGET asio::asio)
  find_path(SWITCHBOARD_ASIO_INCLUDE_DIR
    NAMES asio.hpp
    DOC "Directory holding standalone Asio's asio.hpp")
  if(SWITCHBOARD_ASIO_INCLUDE_DIR)
    add_library(asio::asio INTERFACE IMPORTED)
    set_target_properties(asio::asio PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${SWITCHBOARD_ASIO_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
      INTERFACE_LINK_LIBRARIES "Threads::Threads")
  else()
    list(APPEND SWITCHBOARD_MISSING_DEPENDENCIES
      "standalone Asio (asio.hpp; Debian: libasio-dev, vcpkg/Conan: asio)")
  endif()
endif()

# --- RapidJSON ------------------------------------------------------------------
# Upstream's config sets RapidJSON_INCLUDE_DIRS, Debian's sets RAPIDJSON_INCLUDE_DIRS
# (and prints a status line), vcpkg's and Conan's also provide a `rapidjson` target.
if(NOT TARGET RapidJSON::RapidJSON)
  find_package(RapidJSON CONFIG QUIET)
  set(_switchboard_rapidjson_link "")
  set(_switchboard_rapidjson_include "")
  if(TARGET rapidjson)
    set(_switchboard_rapidjson_link rapidjson)
  elseif(RapidJSON_INCLUDE_DIRS)
    set(_switchboard_rapidjson_include "${RapidJSON_INCLUDE_DIRS}")
  elseif(RAPIDJSON_INCLUDE_DIRS)
    set(_switchboard_rapidjson_include "${RAPIDJSON_INCLUDE_DIRS}")
  else()
    find_path(SWITCHBOARD_RAPIDJSON_INCLUDE_DIR
      NAMES rapidjson/document.h
      DOC "Directory holding rapidjson/document.h")
    if(SWITCHBOARD_RAPIDJSON_INCLUDE_DIR)
      set(_switchboard_rapidjson_include "${SWITCHBOARD_RAPIDJSON_INCLUDE_DIR}")
    endif()
  endif()
  if(_switchboard_rapidjson_link OR _switchboard_rapidjson_include)
    add_library(RapidJSON::RapidJSON INTERFACE IMPORTED)
    if(_switchboard_rapidjson_link)
      set_target_properties(RapidJSON::RapidJSON PROPERTIES
        INTERFACE_LINK_LIBRARIES "${_switchboard_rapidjson_link}")
    else()
      set_target_properties(RapidJSON::RapidJSON PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${_switchboard_rapidjson_include}")
    endif()
  else()
    list(APPEND SWITCHBOARD_MISSING_DEPENDENCIES
      "RapidJSON (rapidjson/document.h; Debian: rapidjson-dev, vcpkg/Conan: rapidjson)")
  endif()
  unset(_switchboard_rapidjson_link)
  unset(_switchboard_rapidjson_include)
endif()

# --- OpenSSL --------------------------------------------------------------------
# TLS (wss://, https://) of the WebSocket transport, through asio::ssl.
if(NOT TARGET OpenSSL::SSL)
  find_package(OpenSSL QUIET)
endif()
if(NOT TARGET OpenSSL::SSL)
  list(APPEND SWITCHBOARD_MISSING_DEPENDENCIES
    "OpenSSL (Debian: libssl-dev, vcpkg/Conan: openssl)")
endif()

# --- libsodium ------------------------------------------------------------------
# Token signatures (HS256, Ed25519) for switchboard::security. libsodium has no one
# upstream target name (vcpkg: unofficial-sodium::sodium, Conan: libsodium::libsodium;
# Debian ships only a pkg-config file), so whichever is found is linked through
# switchboard_sodium, the one name switchboard's targets use.
if(NOT TARGET switchboard_sodium)
  if(NOT TARGET unofficial-sodium::sodium AND NOT TARGET libsodium::libsodium)
    find_package(unofficial-sodium CONFIG QUIET)
  endif()
  if(NOT TARGET unofficial-sodium::sodium AND NOT TARGET libsodium::libsodium)
    find_package(libsodium CONFIG QUIET)
  endif()
  set(_switchboard_sodium_link "")
  set(_switchboard_sodium_include "")
  if(TARGET unofficial-sodium::sodium)
    set(_switchboard_sodium_link unofficial-sodium::sodium)
  elseif(TARGET libsodium::libsodium)
    set(_switchboard_sodium_link libsodium::libsodium)
  else()
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(SWITCHBOARD_PC_SODIUM QUIET IMPORTED_TARGET libsodium)
    endif()
    if(TARGET PkgConfig::SWITCHBOARD_PC_SODIUM)
      set(_switchboard_sodium_link PkgConfig::SWITCHBOARD_PC_SODIUM)
    else()
      find_path(SWITCHBOARD_SODIUM_INCLUDE_DIR
        NAMES sodium.h
        DOC "Directory holding libsodium's sodium.h")
      find_library(SWITCHBOARD_SODIUM_LIBRARY
        NAMES sodium libsodium
        DOC "The libsodium library")
      if(SWITCHBOARD_SODIUM_INCLUDE_DIR AND SWITCHBOARD_SODIUM_LIBRARY)
        set(_switchboard_sodium_link "${SWITCHBOARD_SODIUM_LIBRARY}")
        set(_switchboard_sodium_include "${SWITCHBOARD_SODIUM_INCLUDE_DIR}")
      endif()
    endif()
  endif()
  if(_switchboard_sodium_link)
    add_library(switchboard_sodium INTERFACE IMPORTED)
    set_target_properties(switchboard_sodium PROPERTIES
      INTERFACE_LINK_LIBRARIES "${_switchboard_sodium_link}")
    if(_switchboard_sodium_include)
      set_target_properties(switchboard_sodium PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${_switchboard_sodium_include}")
    endif()
  else()
    list(APPEND SWITCHBOARD_MISSING_DEPENDENCIES
      "libsodium (sodium.h; Debian: libsodium-dev, vcpkg/Conan: libsodium)")
  endif()
  unset(_switchboard_sodium_link)
  unset(_switchboard_sodium_include)
endif()

# --- SQLite 3 (optional) ----------------------------------------------------------
# The storage component switchboard::sqlite. CMake's FindSQLite3 (SQLite::SQLite3) finds
# Debian's libsqlite3-dev and Conan's package; vcpkg's port ships
# unofficial::sqlite3::sqlite3. Whichever is found is linked through switchboard_sqlite3.
if(NOT TARGET switchboard_sqlite3)
  if(NOT TARGET unofficial::sqlite3::sqlite3 AND NOT TARGET SQLite::SQLite3)
    find_package(unofficial-sqlite3 CONFIG QUIET)
  endif()
  if(NOT TARGET unofficial::sqlite3::sqlite3 AND NOT TARGET SQLite::SQLite3)
    find_package(SQLite3 QUIET)
  endif()
  if(TARGET unofficial::sqlite3::sqlite3)
    add_library(switchboard_sqlite3 INTERFACE IMPORTED)
    set_target_properties(switchboard_sqlite3 PROPERTIES
      INTERFACE_LINK_LIBRARIES unofficial::sqlite3::sqlite3)
  elseif(TARGET SQLite::SQLite3)
    add_library(switchboard_sqlite3 INTERFACE IMPORTED)
    set_target_properties(switchboard_sqlite3 PROPERTIES
      INTERFACE_LINK_LIBRARIES SQLite::SQLite3)
  endif()
endif()
if(TARGET switchboard_sqlite3)
  set(SWITCHBOARD_SQLITE3_FOUND TRUE)
else()
  set(SWITCHBOARD_SQLITE3_FOUND FALSE)
endif()
