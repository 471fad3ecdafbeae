// The MPI tests' main(): every rank starts the session; rank 0 runs the Catch2 cases, the other
// ranks serve their tasks until rank 0's session ends. tests/mpi/CMakeLists.txt launches it
// with mpiexec at several rank counts.
#if PARMAP_CATCH2_V3
#include <catch2/catch_session.hpp>  // Catch::Session
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>  // with CATCH_CONFIG_RUNNER: Catch::Session, no main()
#endif

#include "mpi_support.hpp"

int main(int argc, char** argv) {
  // Small parts, so that every message over 4 KiB crosses in several parts (the path a message
  // over 2 GiB takes); two threads per serving rank, so that ranks run tasks concurrently too.
  parmap::mpi::Session session(argc, argv, {.threads_per_rank = 2, .part_bytes = 4096});
  if (!session.is_root()) return session.serve();
  parmap_mpi_test::session = &session;
  return Catch::Session().run(argc, argv);
}
