// Built twice: binary b also names `extra` in a delayed<F>, so its ranks know one more
// function than binary a's. Started together (mpiexec -n 1 a : -n 1 b), the session must
// refuse them with a clear error on every rank rather than let a request call the wrong code.
#include <cstdio>  // std::printf
#include <vector>  // std::vector

#include <parmap/mpi.hpp>

namespace {
int common(int x) { return x + 1; }
#if PARMAP_TEST_EXTRA_FUNCTION
int extra(int x) { return x - 1; }
#endif
}  // namespace

int main(int argc, char** argv) {
  parmap::mpi::Session session(argc, argv);
  if (!session.is_root()) return session.serve();
  parmap::mpi::Parallel parallel(session);
  std::vector tasks{parmap::mpi::delayed<common>(1)};
#if PARMAP_TEST_EXTRA_FUNCTION
  std::vector more{parmap::mpi::delayed<extra>(1)};
  (void)parallel(more);
#endif
  std::printf("result %d: the mismatch was not noticed\n", parallel(tasks)[0]);
  return 0;
}
