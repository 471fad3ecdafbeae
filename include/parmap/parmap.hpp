#pragma once

// parmap: joblib's Parallel(...)(delayed(f)(x) for x in xs) for C++20, with a bounded window.
//
//   #include <parmap/parmap.hpp>
//   auto tasks = std::views::iota(0, 100)
//              | std::views::transform([](int i) { return parmap::delayed(work)(i); });
//   std::vector<double> all = parmap::Parallel({.n_jobs = 2})(tasks);
//   for (double r : parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(tasks)) {}
//   std::vector<double> same = parmap::map(work, std::views::iota(0, 100), {.n_jobs = 2});

#include "delayed.hpp"       // parmap::delayed
#include "map.hpp"           // parmap::map
#include "options.hpp"       // parmap::Options, parmap::return_as, parmap::on_error, parmap::all
#include "outcome.hpp"       // parmap::Outcome, parmap::TimeoutError, parmap::RunReport
#include "parallel.hpp"      // parmap::Parallel
#include "result_range.hpp"  // parmap::ResultRange, parmap::Indexed
#include "this_task.hpp"     // parmap::this_task::get_stop_token
#include "version.hpp"       // PARMAP_VERSION_*
