#pragma once

// The OpenMP contestants of the overhead benchmark: what an OpenMP user writes for a parallel
// map into an array (parallel for) and for results consumed in input order (parallel for
// ordered). Only in a build that found OpenMP (PARMAP_HAVE_OPENMP).

#if PARMAP_HAVE_OPENMP

#include <omp.h>  // _OPENMP; the pragmas need no function from it

#include <cstddef>  // std::size_t
#include <cstdint>  // std::int64_t, std::uint64_t: task inputs, results, checksums
#include <vector>   // std::vector: parallel for's output

#include "harness.hpp"  // Checksum, checksum, Contestant

namespace parmap_bench {

// `#pragma omp parallel for` with n_jobs threads, writing in place; measured against parmap's
// list.
template <class F>
Contestant openmp_for_contestant(F f, int n_jobs, std::size_t tasks = 0) {
  return {"OpenMP parallel for", true,
          [f, n_jobs](std::size_t count) {
            std::vector<std::int64_t> out(count);
            const auto end = static_cast<std::int64_t>(count);
#pragma omp parallel for num_threads(n_jobs) schedule(static)
            for (std::int64_t i = 0; i < end; ++i) out[static_cast<std::size_t>(i)] = f(i);
            return checksum(out, true);
          },
          tasks, "parmap list"};
}

// `#pragma omp parallel for ordered`, each result consumed in an ordered block; measured
// against parmap's generator. schedule(static, 1): threads take turns, the usual pairing with
// `ordered`; the default (static, one block per thread) would make the second thread wait for
// the whole first block before its first ordered step.
template <class F>
Contestant openmp_ordered_contestant(F f, int n_jobs, std::size_t tasks = 0) {
  return {"OpenMP parallel for ordered", true,
          [f, n_jobs](std::size_t count) {
            Checksum sum(true);
            const auto end = static_cast<std::int64_t>(count);
#pragma omp parallel for ordered num_threads(n_jobs) schedule(static, 1)
            for (std::int64_t i = 0; i < end; ++i) {
              const std::int64_t r = f(i);
#pragma omp ordered
              sum.add(r);
            }
            return sum.value();
          },
          tasks, "parmap generator"};
}

}  // namespace parmap_bench

#endif  // PARMAP_HAVE_OPENMP
