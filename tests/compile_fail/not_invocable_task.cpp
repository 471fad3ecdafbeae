// expect: each element of the input range must be a task callable with no arguments
// A range of ints is not a range of tasks: Parallel refuses it with a readable message
// instead of an error deep inside the engine.
#include <parmap/parmap.hpp>

#include <vector>  // std::vector: the input

int main() {
  const std::vector<int> numbers{1, 2, 3};
  auto results = parmap::Parallel(2)(numbers);
  return static_cast<int>(results.size());
}
