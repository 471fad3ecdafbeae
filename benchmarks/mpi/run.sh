#!/usr/bin/env bash
# Builds benchmarks/mpi/mpi_bench (Release), runs it and benchmarks/mpi/mpi4py_bench.py on the
# same number of local MPI ranks, and prints one table with the ratios the issue asks about:
#   bash benchmarks/mpi/run.sh
#   RANKS=3 TASKS=50000 MB_RESULTS=100 RUNS=3 bash benchmarks/mpi/run.sh
# Environment: RANKS (default 4: rank 0 and 3 serving ranks / mpi4py workers), TASKS (tiny
# tasks, default 200000), MB_RESULTS (1 MiB results, default 300), RUNS (default 5),
# RUNS_C1 (mpi4py's tiny tasks with chunksize=1, default 1: tens of seconds a run), BUILD_DIR
# (default build-mpi-bench/). Both programs' own output is kept in $BUILD_DIR/mpi_bench.txt
# and $BUILD_DIR/mpi4py_bench.txt. Installs what is missing first (Debian/Ubuntu: cmake, a
# compiler, Open MPI, python3-mpi4py). Runs as root and with more ranks than cores, as Open
# MPI needs to be told.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=${BUILD_DIR:-$root/build-mpi-bench}
ranks=${RANKS:-4}
tasks=${TASKS:-200000}
mb_results=${MB_RESULTS:-300}
runs=${RUNS:-5}
runs_c1=${RUNS_C1:-1}
# Debian's python3-mpi4py is installed for the system interpreter; a python3 earlier on PATH
# (pyenv, a virtualenv) would not find it.
python=/usr/bin/python3

# shellcheck source=scripts/install_support.sh
source "$root/scripts/install_support.sh"
missing=()
need_build_tools missing
need_mpi missing
[[ -x $python ]] && $python -c 'import mpi4py.futures' 2>/dev/null || missing+=(python3-mpi4py)
apt_install "${missing[@]}"

build_release_target "$build_dir" parmap_benchmark_mpi_bench -DPARMAP_REQUIRE_MPI=ON \
  -DPARMAP_BUILD_TESTS=OFF -DPARMAP_BUILD_EXAMPLES=OFF -DPARMAP_BUILD_BENCHMARKS=ON
allow_mpi_as_root_and_oversubscribed

load_before=$(cat /proc/loadavg)
echo "== mpi_bench, $ranks ranks" >&2
mpiexec -n "$ranks" "$build_dir/benchmarks/mpi_bench" --tasks "$tasks" \
  --mb-results "$mb_results" --runs "$runs" | tee "$build_dir/mpi_bench.txt" >&2
echo "== mpi4py_bench, $ranks ranks" >&2
mpiexec -n "$ranks" "$python" -m mpi4py.futures "$root/benchmarks/mpi/mpi4py_bench.py" \
  --tasks "$tasks" --mb-results "$mb_results" --runs "$runs" --runs-c1 "$runs_c1" |
  tee "$build_dir/mpi4py_bench.txt" >&2
load_after=$(cat /proc/loadavg)

# The combined table, from both programs' key=value lines.
"$python" - "$build_dir/mpi_bench.txt" "$build_dir/mpi4py_bench.txt" "$ranks" "$tasks" \
  "$mb_results" "$runs" "$runs_c1" "$load_before" "$load_after" <<'EOF'
import sys

parmap_txt, mpi4py_txt, ranks, tasks, mb_results, runs, runs_c1, load_before, load_after = \
    sys.argv[1:]
figures = {}
for path in (parmap_txt, mpi4py_txt):
    for line in open(path):
        key, sep, value = line.strip().partition("=")
        if sep and " " not in key:
            figures[key] = value
f = lambda key: float(figures[key])
ratio = lambda r, goal: f"{r:.2f} ({'met' if r >= goal else 'not met'}: goal >= {goal:g})"
chunk, mb_chunk = figures["mpi4py_tiny_chunk_auto"], figures["mpi4py_mb_chunk_auto"]

rows = [
    ("tiny: parmap::mpi list, automatic batching, tasks/s", f"{f('tiny_tasks_per_s'):,.0f}"),
    ("tiny: parmap::mpi, ns per task", f"{f('tiny_ns_per_task'):,.0f}"),
    ("tiny: mpi4py map, chunksize=1, tasks/s", f"{f('mpi4py_tiny_tasks_per_s_c1'):,.0f}"),
    (f"tiny: mpi4py map, chunksize={chunk}, tasks/s", f"{f('mpi4py_tiny_tasks_per_s_auto'):,.0f}"),
    ("tiny: parmap / mpi4py chunksize=1",
     ratio(f("tiny_tasks_per_s") / f("mpi4py_tiny_tasks_per_s_c1"), 10)),
    (f"tiny: parmap / mpi4py chunksize={chunk}",
     ratio(f("tiny_tasks_per_s") / f("mpi4py_tiny_tasks_per_s_auto"), 10)),
    ("raw MPI round trip of one int, us", f"{f('raw_round_trip_us'):.1f}"),
    ("1 MiB: parmap::mpi list, GB/s", f"{f('list_gb_s'):.2f}"),
    ("1 MiB: parmap::mpi generator_unordered, GB/s", f"{f('unordered_gb_s'):.2f}"),
    ("1 MiB: raw MPI_Send/MPI_Recv, GB/s", f"{f('raw_gb_s'):.2f}"),
    ("1 MiB: rank 0 allocating and zeroing fresh memory, GB/s", f"{f('fresh_gb_s'):.2f}"),
    (f"1 MiB: mpi4py map ({figures['mpi4py_mb_results_as']}), chunksize=1 / {mb_chunk}, GB/s",
     f"{f('mpi4py_mb_gb_s_c1'):.2f} / {f('mpi4py_mb_gb_s_auto'):.2f}"),
    ("1 MiB: parmap list / raw", ratio(f("list_gb_s") / f("raw_gb_s"), 0.7)),
    ("1 MiB: parmap generator_unordered / raw", ratio(f("unordered_gb_s") / f("raw_gb_s"), 0.7)),
]
print(f"\n{ranks} ranks ({int(ranks) - 1} serving / mpi4py workers), {tasks} tiny tasks, "
      f"{mb_results} results of 1 MiB; medians of {runs} runs ({runs_c1} for mpi4py's tiny "
      f"tasks with chunksize=1); {figures['mpi_library']}, mpi4py {figures['mpi4py_version']}")
print(f"load average: {load_before} before, {load_after} after\n")
print("| measure | value |\n|---|---:|")
for name, value in rows:
    print(f"| {name} | {value} |")
EOF
