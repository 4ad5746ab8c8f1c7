// The Catch2 main() shared by the test executables, compiled once so each test
// file rebuilds quickly.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
