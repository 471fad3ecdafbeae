// Compile-time benchmark: one parmap::Parallel call in generator mode, over iota | transform.
#include <parmap/parmap.hpp>
#include <ranges>  // std::views::iota, std::views::transform

static long square(int i) { return static_cast<long>(i) * i; }

int main() {
  auto tasks = std::views::iota(0, 1000) |
               std::views::transform([](int i) { return parmap::delayed(square)(i); });
  long total = 0;
  for (long s : parmap::Parallel({.n_jobs = 2}, parmap::return_as::generator)(tasks)) total += s;
  return total > 0 ? 0 : 1;
}
