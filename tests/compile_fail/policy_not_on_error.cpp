// expect: the error policy must be parmap::on_error::raise or collect
// A mode tag passed where the error policy goes.
#include <parmap/parmap.hpp>

int main() {
  parmap::Parallel parallel(2, parmap::return_as::generator, parmap::return_as::list);
  return static_cast<int>(parallel.n_jobs());
}
