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

# shellcheck source=scripts/install_support.sh
source "$root/scripts/install_support.sh"
missing=()
need_build_tools missing
need_mpi missing
apt_install "${missing[@]}"

build_release_target "$build_dir" parmap_example_mpi_demo -DPARMAP_REQUIRE_MPI=ON \
  -DPARMAP_BUILD_TESTS=OFF -DPARMAP_BUILD_EXAMPLES=ON -DPARMAP_BUILD_BENCHMARKS=OFF
allow_mpi_as_root_and_oversubscribed
exec mpiexec -n "$ranks" "$build_dir/examples/mpi_demo" "$@"
