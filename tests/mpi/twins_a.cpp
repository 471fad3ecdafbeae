// Two files each define `twin(int)` in an anonymous namespace and name it in a delayed<F>
// (this one and twins_b.cpp): one mangled name, two functions. The session must refuse to
// start rather than let a request for one run the other.
#include <cstdio>  // std::printf
#include <vector>  // std::vector

#include <parmap/mpi.hpp>

namespace {
int twin(int x) { return x + 1; }
}  // namespace

int call_twin_b(parmap::mpi::Parallel<>& parallel);  // twins_b.cpp

int main(int argc, char** argv) {
  parmap::mpi::Session session(argc, argv);
  if (!session.is_root()) return session.serve();
  parmap::mpi::Parallel parallel(session);
  std::vector tasks{parmap::mpi::delayed<twin>(1)};
  std::printf("twins: %d and %d; they were not told apart\n", parallel(tasks)[0],
              call_twin_b(parallel));
  return 0;
}
