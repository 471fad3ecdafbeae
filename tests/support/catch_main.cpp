// Catch2 v2 only: the test runner's main(). tests/CMakeLists.txt compiles this file when it
// finds v2; with v3 it links Catch2::Catch2WithMain instead and leaves this file out.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>  // with CATCH_CONFIG_MAIN: defines main()
