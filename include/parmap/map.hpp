#pragma once

#include <functional>  // std::ref: the tasks share the caller's function
#include <ranges>      // std::ranges::input_range, std::views::transform
#include <utility>     // std::forward, std::move

#include "delayed.hpp"
#include "options.hpp"
#include "parallel.hpp"

namespace parmap {

// f applied to every element of `inputs`, in parallel, results in input order:
//   std::vector<double> ys = parmap::map(f, xs, {.n_jobs = 2});
// Shorthand for Parallel(options)(tasks) with tasks = delayed(f)(x) for each x of inputs:
// each task holds a copy of its element and calls the one f (by reference, so f is not
// copied per task and must be safe to call from several threads at once). Returns
// std::vector<R>, or void when f returns void. Throws what Parallel's constructor and
// list-mode call throw. Blocks until every task has run.
template <class F, std::ranges::input_range Inputs>
auto map(F&& f, Inputs&& inputs, Options options = {}) {
  auto tasks = std::views::transform(std::forward<Inputs>(inputs), [&f](auto&& x) {
    return delayed(std::ref(f))(std::forward<decltype(x)>(x));
  });
  return Parallel(std::move(options))(std::move(tasks));
}

}  // namespace parmap
