// expect: f cannot be called with these arguments
// expect-first-error: f cannot be called with these arguments
// expect-first-error: std::ref(x)
// A task's arguments are stored copies: f taking `int&` cannot bind the copy (std::ref(x) would
// pass x itself). delayed says so where the task is made, before the Parallel call that runs
// the tasks reports anything about them.
#include <parmap/parmap.hpp>

#include <ranges>  // std::views::transform
#include <vector>  // std::vector: the input

int bump(int& x) { return ++x; }

int main() {
  std::vector<int> xs{1, 2, 3};
  auto tasks = xs | std::views::transform([](int& x) { return parmap::delayed(bump)(x); });
  auto results = parmap::Parallel(2)(tasks);
  return static_cast<int>(results.size());
}
