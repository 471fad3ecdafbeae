#pragma once

// The one Catch2 include for parmap's tests: test files write `#include "support/catch.hpp"`
// and compile against Catch2 v3 or v2, whichever tests/CMakeLists.txt found. It sets
// PARMAP_CATCH2_V3 to 1 or 0; without CMake, the headers present decide.
//
// Portable spellings (v3 names; the v2 branch below provides them too):
//   Catch::Approx, Catch::Matchers::ContainsSubstring, Catch::Matchers::Message,
//   Catch::Matchers::Equals (vectors), GENERATE/range, TEMPLATE_TEST_CASE.

#ifndef PARMAP_CATCH2_V3
#if __has_include(<catch2/catch_test_macros.hpp>)
#define PARMAP_CATCH2_V3 1
#else
#define PARMAP_CATCH2_V3 0
#endif
#endif

#if PARMAP_CATCH2_V3

#include <catch2/catch_approx.hpp>                       // Catch::Approx
#include <catch2/catch_template_test_macros.hpp>         // TEMPLATE_TEST_CASE
#include <catch2/catch_test_macros.hpp>                  // TEST_CASE, SECTION, REQUIRE, CHECK
#include <catch2/generators/catch_generators.hpp>        // GENERATE, values
#include <catch2/generators/catch_generators_range.hpp>  // range
#include <catch2/matchers/catch_matchers_exception.hpp>  // Message
#include <catch2/matchers/catch_matchers_string.hpp>     // ContainsSubstring, StartsWith
#include <catch2/matchers/catch_matchers_vector.hpp>     // Equals, UnorderedEquals

#else

#include <catch2/catch.hpp>  // v2: everything in one header

#include <string>  // std::string: ContainsSubstring's argument

namespace Catch {
// v3 moved Approx out of Detail; v2 has it only there and as a global name.
using Detail::Approx;
namespace Matchers {
// v3 renamed the string matcher Contains to ContainsSubstring; spell it the v3 way everywhere.
// NOLINTNEXTLINE(readability-identifier-naming): Catch2's own name for it
inline StdString::ContainsMatcher ContainsSubstring(
    std::string const& text, CaseSensitive::Choice case_sensitivity = CaseSensitive::Yes) {
  return Contains(text, case_sensitivity);
}
}  // namespace Matchers
}  // namespace Catch

#endif
