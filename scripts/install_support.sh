# shellcheck shell=bash
# Sourced by parmap's scripts (test.sh, demo.sh, mpi_demo.sh, benchmarks/mpi/run.sh): what
# each needs to find what is missing and install it with apt-get (Debian/Ubuntu), to build one
# Release target, and to let mpiexec run as root with more ranks than cores.
#   missing=(); need_build_tools missing; need_mpi missing; apt_install "${missing[@]}"

# cmake, the compiler $CXX names (default g++) and a build tool.
need_build_tools() {
  # shellcheck disable=SC2178  # a nameref to the caller's array
  local -n into=$1
  command -v cmake >/dev/null || into+=(cmake)
  command -v "${CXX:-g++}" >/dev/null || into+=(g++)
  command -v ninja >/dev/null || command -v make >/dev/null || into+=(make)
}

# Open MPI's launcher and headers, and a C compiler (CMake's FindMPI finds MPI's C library
# through it).
need_mpi() {
  # shellcheck disable=SC2178  # a nameref to the caller's array
  local -n into=$1
  command -v mpiexec >/dev/null || into+=(openmpi-bin)
  local header have=no
  for header in /usr/include/mpi.h /usr/lib/*/openmpi/include/mpi.h /usr/include/*/mpich/mpi.h \
    /usr/local/include/mpi.h; do
    [[ -f "$header" ]] && have=yes
  done
  [[ $have == yes ]] || into+=(libopenmpi-dev)
  command -v cc >/dev/null || into+=(gcc)
}

# Installs the packages named, as root or through sudo; nothing when none is named.
apt_install() {
  (($#)) || return 0
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "$(basename "$0"): missing packages: $*; install them as root (apt-get install $*)" >&2
      exit 1
    fi
    apt=(sudo "${apt[@]}")
  fi
  echo "$(basename "$0"): installing $*"
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends "$@"
}

# Configures $root into build dir $1 as a Release build (Ninja on a fresh directory when there
# is one) with the CMake options after the target, and builds target $2 alone.
#   build_release_target "$build_dir" parmap_example_memory_demo -DPARMAP_BUILD_EXAMPLES=ON
build_release_target() {
  local dir=$1 target=$2
  shift 2
  local configure=(cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@")
  if [[ ! -f "$dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
    configure+=(-G Ninja)
  fi
  "${configure[@]}" >/dev/null
  cmake --build "$dir" --target "$target" --parallel "$(nproc 2>/dev/null || echo 2)"
}

# Open MPI refuses root without these, and gives one rank per core unless told otherwise.
allow_mpi_as_root_and_oversubscribed() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_rmaps_base_oversubscribe=1
}
