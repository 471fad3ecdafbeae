// expect: each element of the input range must be a task callable with no arguments
// Tasks are called with no arguments: a range of unary functions (delayed(f) without its
// arguments) is refused.
#include <parmap/parmap.hpp>

#include <functional>  // std::function: a unary function
#include <vector>      // std::vector: the input

int main() {
  std::vector<std::function<int(int)>> unary{[](int x) { return x; }};
  auto results = parmap::Parallel(2)(unary);
  return static_cast<int>(results.size());
}
