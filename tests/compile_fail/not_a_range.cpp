// expect: the argument must be an input range of tasks
// A single task is not a range of tasks.
#include <parmap/parmap.hpp>

int main() {
  auto task = parmap::delayed([](int x) { return x; })(1);
  auto results = parmap::Parallel(2)(task);
  return static_cast<int>(results.size());
}
