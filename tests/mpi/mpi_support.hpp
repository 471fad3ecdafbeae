#pragma once

#include <parmap/mpi.hpp>

namespace parmap_mpi_test {

// The session main() made, for the test cases (rank 0).
inline parmap::mpi::Session* session = nullptr;

}  // namespace parmap_mpi_test
