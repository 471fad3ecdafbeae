// The smallest real use of parmap, built by the packaging tests against an installed parmap,
// the build tree and an add_subdirectory() of the source tree. Returns 0 when the results are
// right.
#include <parmap/parmap.hpp>

#include <cstddef>  // std::size_t
#include <cstdio>   // std::fprintf: say what went wrong
#include <vector>   // std::vector: the tasks and the results

int main() {
  const auto twice = [](int i) { return i * 2; };

  std::vector<decltype(parmap::delayed(twice)(0))> tasks;
  for (int i = 0; i < 100; ++i) {
    tasks.push_back(parmap::delayed(twice)(i));
  }

  const std::vector<int> results = parmap::Parallel({.n_jobs = 2})(tasks);

  if (results.size() != tasks.size()) {
    std::fprintf(stderr, "expected %zu results, got %zu\n", tasks.size(), results.size());
    return 1;
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const int expected = static_cast<int>(i) * 2;
    if (results[i] != expected) {
      std::fprintf(stderr, "result %zu is %d, expected %d\n", i, results[i], expected);
      return 1;
    }
  }
  std::printf("parmap consumer: %zu results in order\n", results.size());
  return 0;
}
