// The other twin (see twins_a.cpp).
#include <vector>  // std::vector

#include <parmap/mpi.hpp>

namespace {
int twin(int x) { return x - 1; }
}  // namespace

int call_twin_b(parmap::mpi::Parallel<>& parallel) {
  std::vector tasks{parmap::mpi::delayed<twin>(1)};
  return parallel(tasks)[0];
}
