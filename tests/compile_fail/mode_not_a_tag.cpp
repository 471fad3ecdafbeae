// expect: the mode must be one of parmap::return_as::list, generator or generator_unordered
// Any other type in the mode's place is refused with the same message.
#include <parmap/parmap.hpp>

int main() {
  parmap::Parallel<int> parallel(2);
  return static_cast<int>(parallel.n_jobs());
}
