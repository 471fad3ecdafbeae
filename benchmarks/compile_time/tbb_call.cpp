// Compile-time benchmark: one tbb::parallel_for call writing results into a vector.
#include <tbb/parallel_for.h>

#include <vector>  // std::vector: the results

static long square(int i) { return static_cast<long>(i) * i; }

int main() {
  std::vector<long> all(1000);
  tbb::parallel_for(0, 1000, [&](int i) { all[i] = square(i); });
  return all[10] == 100 ? 0 : 1;
}
