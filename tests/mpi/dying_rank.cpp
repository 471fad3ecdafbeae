// A serving rank dies (_exit) in the middle of a call. Without MPI fault tolerance the launcher
// ends the job; rank 0 must say why on its stderr, and never hang (ExpectJobFails.cmake).
#include <unistd.h>  // _exit, getpid

#include <chrono>  // std::chrono::milliseconds
#include <cstdio>  // std::printf
#include <ranges>  // std::views
#include <thread>  // std::this_thread::sleep_for

#include <parmap/mpi.hpp>

namespace {
int work(int x) {
  if (x == 40) _exit(3);  // this rank dies, as a crash or the OOM killer would end it
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return x;
}
}  // namespace

int main(int argc, char** argv) {
  parmap::mpi::Session session(argc, argv);
  if (!session.is_root()) return session.serve();
  parmap::mpi::Parallel parallel(session, {.batch_size = 1}, parmap::return_as::generator);
  auto tasks = std::views::iota(0, 1000) |
               std::views::transform([](int i) { return parmap::mpi::delayed<work>(i); });
  for (int v : parallel(tasks)) {
    if (v % 100 == 0) std::printf("result %d\n", v);
  }
  std::printf("rank 0 finished: the dying rank was not noticed\n");
  return 0;
}
