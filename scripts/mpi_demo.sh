#!/usr/bin/env bash
# Builds examples/mpi_demo and runs it on 4 local MPI ranks (rank 0 consumes, 3 serve),
# passing its arguments through:
#   scripts/mpi_demo.sh            # the full demo, about a minute
#   scripts/mpi_demo.sh --quick    # a short run
# Installs what is missing first (Debian/Ubuntu: cmake, a compiler, Open MPI). Build dir:
# $BUILD_DIR, default build-mpi-demo/ (Release, so the timings mean something). Ranks: $RANKS
# (default 4). Runs as root and with more ranks than cores, as Open MPI needs to be told.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build-mpi-demo}
ranks=${RANKS:-4}

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v "${CXX:-g++}" >/dev/null || missing+=(g++)
command -v cc >/dev/null || missing+=(gcc)  # CMake's FindMPI looks for MPI's C library
command -v ninja >/dev/null || command -v make >/dev/null || missing+=(make)
command -v mpiexec >/dev/null || missing+=(openmpi-bin)
have_mpi_h=no
for header in /usr/include/mpi.h /usr/lib/*/openmpi/include/mpi.h /usr/include/*/mpich/mpi.h \
  /usr/local/include/mpi.h; do
  [[ -f "$header" ]] && have_mpi_h=yes
done
[[ $have_mpi_h == yes ]] || missing+=(libopenmpi-dev)
if ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

configure=(cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DPARMAP_REQUIRE_MPI=ON
  -DPARMAP_BUILD_TESTS=OFF -DPARMAP_BUILD_EXAMPLES=ON -DPARMAP_BUILD_BENCHMARKS=OFF)
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  configure+=(-G Ninja)
fi
"${configure[@]}" >/dev/null
cmake --build "$build_dir" --target parmap_example_mpi_demo --parallel "$(nproc 2>/dev/null || echo 2)"

# Open MPI refuses root without these, and gives one rank per core unless told otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
exec mpiexec -n "$ranks" "$build_dir/examples/mpi_demo" "$@"
