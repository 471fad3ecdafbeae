// expect: the mode must be one of parmap::return_as::list, generator or generator_unordered
// The error policy passed where the mode goes: Parallel(n_jobs, mode, policy).
#include <parmap/parmap.hpp>

int main() {
  parmap::Parallel parallel(2, parmap::on_error::collect);
  return static_cast<int>(parallel.n_jobs());
}
