// Compile-time benchmark: one parmap::Parallel call in list mode, over iota | transform.
#include <parmap/parmap.hpp>
#include <ranges>  // std::views::iota, std::views::transform
#include <vector>  // std::vector: the results

static long square(int i) { return static_cast<long>(i) * i; }

int main() {
  auto tasks = std::views::iota(0, 1000) |
               std::views::transform([](int i) { return parmap::delayed(square)(i); });
  const std::vector<long> all = parmap::Parallel({.n_jobs = 2})(tasks);
  return all[10] == 100 ? 0 : 1;
}
