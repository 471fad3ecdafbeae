#pragma once

// What the README's and docs' code fragments take for granted: the headers a user's file would
// have, and the user functions they only mention. Declarations only: the fragments are
// compiled, never linked or run.

#include <parmap/parmap.hpp>

#include <chrono>      // std::chrono: timeouts in the fragments
#include <cstdio>      // std::printf
#include <ranges>      // std::views::iota, std::views::transform
#include <stdexcept>   // std::exception
#include <string>      // std::string
#include <vector>      // std::vector

namespace snippet_user {
double f(int x);               // a task function of the joblib comparison
long slow_square(int i);       // the quickstart's task
double work(int i);            // a generic task
}  // namespace snippet_user
using namespace snippet_user;  // NOLINT(google-build-using-namespace): fragments say f, not snippet_user::f
