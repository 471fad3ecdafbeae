// The README's first example: the same eight tasks, returned the three ways.
#include <parmap/parmap.hpp>

#include <chrono>   // std::chrono::milliseconds: the tasks' pretend work
#include <cstdio>   // std::printf
#include <ranges>   // std::views::iota, std::views::transform
#include <thread>   // std::this_thread::sleep_for
#include <vector>   // std::vector: what return_as::list returns

// A task that takes a while: the later tasks are the quicker ones.
long slow_square(int i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(10 * (8 - i)));
  return static_cast<long>(i) * i;
}

int main() {
  // A lazy range of tasks: nothing runs until a Parallel reads it.
  auto tasks = std::views::iota(0, 8) |
               std::views::transform([](int i) { return parmap::delayed(slow_square)(i); });

  // 1. All results at once, in input order.
  std::vector<long> squares = parmap::Parallel({.n_jobs = 2})(tasks);
  std::printf("list:      ");
  for (long s : squares) std::printf(" %ld", s);

  // 2. One at a time, in input order; at most 4 tasks running or waiting to be read.
  std::printf("\ngenerator: ");
  for (long s : parmap::Parallel({.n_jobs = 2, .pre_dispatch = 4}, parmap::return_as::generator)(tasks)) {
    std::printf(" %ld", s);
  }

  // 3. In completion order, each with its input index.
  long total = 0;
  int count = 0;
  for (auto [index, s] :
       parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator_unordered)(tasks).indexed()) {
    total += s;
    count += s == static_cast<long>(index) * static_cast<long>(index) ? 1 : 0;
  }
  std::printf("\nunordered:  %d results matched their index, sum %ld\n", count, total);
}
