"""mpi4py.futures on the tasks of benchmarks/mpi/mpi_bench.cpp, for the ratios in run.sh.

    mpiexec -n 4 /usr/bin/python3 -m mpi4py.futures benchmarks/mpi/mpi4py_bench.py \
        [--tasks N] [--mb-results M] [--runs R] [--runs-c1 R1]

Rank 0 runs this script; the other ranks are MPIPoolExecutor's workers (the -m mpi4py.futures
launch). Measured, each with chunksize=1 (map's default) and with chunks chosen for the job
as automatic batching would choose them, N // (4 x workers): four chunks per worker, what a
user who tunes chunksize by hand would pick:
  tiny   MPIPoolExecutor().map(square, range(N)), the results collected in a list
  1 MiB  map(mebibyte, range(M)): each result a 1 MiB numpy array of i (bytes of 1 MiB when
         numpy is missing), consumed and dropped in order; rank 0's bytes per second
Each figure is the median of R runs (--runs-c1 runs for the tiny tasks with chunksize=1),
after one untimed warm-up map of a few tasks (the workers' start-up). Every run's results are
checked. Prints key=value lines for run.sh (mpi4py_<measure>_c1, mpi4py_<measure>_auto).

/usr/bin/python3, not whatever python3 comes first on PATH: Debian's python3-mpi4py is
installed for the system interpreter only.
"""

import argparse
import statistics
import time

import mpi4py
from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

try:
    import numpy
except ImportError:  # the 1 MiB results become bytes objects
    numpy = None

MIB = 1 << 20


def square(x):
    return x * x


def mebibyte(i):
    if numpy is not None:
        return numpy.full(MIB // 8, float(i))
    return bytes([i % 256]) * MIB


def first_value(result):
    return float(result[0]) if numpy is not None else result[0]


def expected_first(i):
    return float(i) if numpy is not None else i % 256


def median_seconds(runs, run):
    """The median wall time of `runs` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--mb-results", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runs-c1", type=int, default=1,
                        help="runs of the tiny tasks with chunksize=1 (default 1: each takes "
                             "N x the per-task round trip, tens of seconds for 200,000)")
    args = parser.parse_args()

    workers = MPI.COMM_WORLD.Get_size() - 1  # under -m mpi4py.futures: the world less rank 0
    n, m = args.tasks, args.mb_results
    sum_of_squares = (n - 1) * n * (2 * n - 1) // 6
    print(f"mpi_library={MPI.Get_library_version().split(',')[0].strip()}")
    print(f"mpi4py_version={mpi4py.__version__}")
    print(f"mpi4py_workers={workers}")
    print(f"mpi4py_mb_results_as={'numpy' if numpy is not None else 'bytes'}")

    with MPIPoolExecutor() as executor:
        # Warm-up: the workers started and connected, square and mebibyte sent once each way.
        list(executor.map(square, range(4 * workers)))
        list(executor.map(mebibyte, range(workers)))
        for label, tiny_chunk, mb_chunk in (("c1", 1, 1),
                                            ("auto", max(1, n // (4 * workers)),
                                             max(1, m // (4 * workers)))):
            def tiny():
                results = list(executor.map(square, range(n), chunksize=tiny_chunk))
                assert len(results) == n and sum(results) == sum_of_squares, "tiny: wrong results"

            def mb():
                count = 0
                for i, result in enumerate(executor.map(mebibyte, range(m), chunksize=mb_chunk)):
                    assert len(result) * (8 if numpy is not None else 1) == MIB
                    assert first_value(result) == expected_first(i), "1 MiB: wrong result"
                    count += 1
                assert count == m, "1 MiB: results missing"

            tiny_s = median_seconds(args.runs_c1 if tiny_chunk == 1 else args.runs, tiny)
            mb_s = median_seconds(args.runs, mb)
            print(f"mpi4py_tiny_chunk_{label}={tiny_chunk}")
            print(f"mpi4py_tiny_ns_per_task_{label}={tiny_s * 1e9 / n:.1f}")
            print(f"mpi4py_tiny_tasks_per_s_{label}={n / tiny_s:.0f}")
            print(f"mpi4py_mb_chunk_{label}={mb_chunk}")
            print(f"mpi4py_mb_gb_s_{label}={m * MIB / mb_s / 1e9:.3f}", flush=True)


if __name__ == "__main__":
    main()
