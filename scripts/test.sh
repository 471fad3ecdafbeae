#!/usr/bin/env bash
# Builds parmap's tests, examples and benchmarks and runs the test suite; installs what is
# missing first (Debian/Ubuntu, via apt-get). This is the test command the README gives.
#
#   scripts/test.sh                                        # g++, build dir build/
#   CXX=clang++-16 scripts/test.sh                         # clang 16, build-clang++-16/
#   CXX=clang++-19 PARMAP_STDLIB=libc++ scripts/test.sh    # libc++, build-clang++-19-libc++/
#   PARMAP_SANITIZE=thread scripts/test.sh   # ThreadSanitizer, build dir build-thread/
#   PARMAP_SANITIZE=address scripts/test.sh  # AddressSanitizer + UBSan, build-address/
#
# Environment: BUILD_DIR (build directory), CXX (compiler), PARMAP_STDLIB ("" for the
# compiler's default, or libc++ with clang), PARMAP_SANITIZE ("", thread, address), BUILD_TYPE
# (default Debug), CMAKE_ARGS (extra configure arguments, split on spaces), CTEST_ARGS (extra
# ctest arguments, e.g. "-L stress" or "-R ordered"). Tests, examples and benchmarks are always
# built, with warnings as errors, whatever an existing build directory's cache says. Exits
# non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=${PARMAP_SANITIZE:-}
case "$sanitize" in
  "" | thread | address) ;;
  *) echo "test.sh: PARMAP_SANITIZE must be empty, thread or address, not '$sanitize'" >&2; exit 2 ;;
esac
stdlib=${PARMAP_STDLIB:-}
case "$stdlib" in
  "" | libc++) ;;
  *) echo "test.sh: PARMAP_STDLIB must be empty or libc++, not '$stdlib'" >&2; exit 2 ;;
esac

# Sanitizer builds of LLVM 14 / GCC 12 abort with "FATAL: ThreadSanitizer: unexpected memory
# mapping" (or ASan shadow errors) on kernels that randomise mmap with more than 28 bits.
# Disabling address-space randomisation for this script and its children avoids that; it
# changes nothing else about the run. PARMAP_NO_ASLR guards against re-executing forever.
if [[ -n "$sanitize" && -z "${PARMAP_NO_ASLR:-}" ]]; then
  rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
  if ((rnd_bits > 28)) && command -v setarch >/dev/null &&
    setarch "$(uname -m)" -R true 2>/dev/null; then
    echo "test.sh: vm.mmap_rnd_bits=$rnd_bits; re-running with ASLR off (setarch -R)"
    PARMAP_NO_ASLR=1 exec setarch "$(uname -m)" -R bash "${BASH_SOURCE[0]}" "$@"
  fi
fi

# --- Install what is missing ------------------------------------------------------------------
# shellcheck source=scripts/install_support.sh
source "$root/scripts/install_support.sh"
cxx=${CXX:-g++}
missing=()
command -v cmake >/dev/null || missing+=(cmake)
# Debian names the package after the version: clang++-16 is in clang-16. (Debian 12's plain
# clang++ is clang 14, which cannot compile libstdc++ 12's views::iota: "no matching function
# for call to '__begin'"; use clang++-16 or later.)
if ! command -v "$cxx" >/dev/null; then
  case "$(basename "$cxx")" in
    clang++-*) missing+=("clang-${cxx##*clang++-}") ;;
    clang++*) missing+=(clang) ;;
    g++-*) missing+=("g++-${cxx##*g++-}") ;;
    *) missing+=(g++) ;;
  esac
fi
command -v ninja >/dev/null || command -v make >/dev/null || missing+=(ninja-build)
# The packaging tests run pkg-config and clone the source tree with git (FetchContent).
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v git >/dev/null || missing+=(git)
# Catch2: Debian's package installs its CMake config here; a v3 built from source usually
# lives under /usr/local. Either one will do.
have_catch2=no
for dir in /usr/lib/cmake /usr/lib/*/cmake /usr/share/cmake /usr/local/lib/cmake \
  /usr/local/lib/*/cmake /usr/local/share/cmake; do
  [[ -f "$dir/Catch2/Catch2Config.cmake" ]] && have_catch2=yes
done
[[ $have_catch2 == yes ]] || missing+=(catch2)
# The MPI backend's tests: Open MPI and cereal (its codec test).
need_mpi missing
[[ -f /usr/include/cereal/cereal.hpp ]] || missing+=(libcereal-dev)
apt_install "${missing[@]}"

# libc++ is a package of its own per clang version (libc++-19-dev with libc++abi-19-dev); a
# tiny compile tells whether the one for this compiler is there.
stdlib_flags=()
if [[ $stdlib == libc++ ]]; then
  case "$(basename "$cxx")" in
    clang++*) ;;
    *) echo "test.sh: PARMAP_STDLIB=libc++ needs clang++ (CXX=clang++-19), not '$cxx'" >&2; exit 2 ;;
  esac
  stdlib_flags=(-stdlib=libc++)
  probe_dir=$(mktemp -d)
  echo '#include <version>
int main() { return 0; }' >"$probe_dir/probe.cpp"
  if ! "$cxx" -stdlib=libc++ "$probe_dir/probe.cpp" -o "$probe_dir/probe" 2>/dev/null; then
    major=$("$cxx" -dumpversion)
    major=${major%%.*}
    apt_install "libc++-$major-dev" "libc++abi-$major-dev"
  fi
  rm -rf "$probe_dir"
fi

# The sanitizer runtime is a separate package for clang (libclang-rt-*-dev); g++ brings its own.
# A tiny link tells whether it is there, whatever the compiler's version.
if [[ -n "$sanitize" ]]; then
  san_flag=-fsanitize=$sanitize
  [[ $sanitize == address ]] && san_flag=-fsanitize=address,undefined
  probe_dir=$(mktemp -d)
  trap 'rm -rf "$probe_dir"' EXIT
  echo 'int main() { return 0; }' >"$probe_dir/probe.cpp"
  if ! "$cxx" "$san_flag" "$probe_dir/probe.cpp" -o "$probe_dir/probe" 2>/dev/null; then
    case "$(basename "$cxx")" in
      clang++-*) apt_install "libclang-rt-${cxx##*clang++-}-dev" ;;
      clang++*) apt_install libclang-rt-dev ;;
      *) apt_install libtsan2 libasan8 libubsan1 ;;
    esac
  fi
fi

# --- Configure, build, test -------------------------------------------------------------------
if [[ -z "${BUILD_DIR:-}" ]]; then
  # One directory per variant: switching compiler or sanitizer in one directory would force a
  # full rebuild each time (a new compiler makes CMake discard the whole cache).
  BUILD_DIR=$root/build
  [[ -n "$sanitize" ]] && BUILD_DIR+="-$sanitize"
  [[ -n "${CXX:-}" ]] && BUILD_DIR+="-$(basename "$CXX")"
  [[ -n "$stdlib" ]] && BUILD_DIR+="-$stdlib"
fi

# Everything on, every time: a directory first configured by hand (or by scripts/demo.sh) may
# hold PARMAP_BUILD_TESTS=OFF in its cache, and the run would then pass with nothing tested.
# PARMAP_REQUIRE_TESTS turns a missing Catch2 into a configure error instead of a warning.
configure=(cmake -S "$root" -B "$BUILD_DIR"
  "-DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Debug}"
  "-DPARMAP_SANITIZE=$sanitize"
  -DPARMAP_BUILD_TESTS=ON -DPARMAP_BUILD_EXAMPLES=ON -DPARMAP_BUILD_BENCHMARKS=ON
  -DPARMAP_REQUIRE_TESTS=ON -DPARMAP_REQUIRE_MPI=ON -DPARMAP_WERROR=ON)
cache=$BUILD_DIR/CMakeCache.txt
if [[ ! -f "$cache" ]]; then
  # Compiler and standard library only on a fresh directory: passing a different compiler to an
  # existing one makes CMake delete the whole cache ("You have changed variables that require
  # your cache to be deleted") and reconfigure with half the settings lost.
  configure+=("-DCMAKE_CXX_COMPILER=$cxx")
  if ((${#stdlib_flags[@]})); then configure+=("-DCMAKE_CXX_FLAGS=${stdlib_flags[*]}"); fi
  # Ninja when there is one (faster no-op rebuilds); CMake refuses to switch the generator of
  # an existing directory.
  if command -v ninja >/dev/null; then configure+=(-G Ninja); fi
else
  cached_cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$cache")
  cached_flags=$(sed -n 's/^CMAKE_CXX_FLAGS:[A-Z]*=//p' "$cache")
  wanted_cxx=$(command -v "$cxx")
  # Paths resolved, so /usr/bin/c++ (a plain `cmake -S . -B build`) matches g++ it points to.
  if [[ $(realpath "$cached_cxx" 2>/dev/null) != $(realpath "$wanted_cxx") ]]; then
    echo "test.sh: $BUILD_DIR was configured with $cached_cxx, not $cxx." >&2
    echo "test.sh: remove it (rm -rf $BUILD_DIR) or pick another one (BUILD_DIR=...)." >&2
    exit 2
  fi
  cached_stdlib=""
  if [[ " $cached_flags " == *" -stdlib=libc++ "* ]]; then cached_stdlib=libc++; fi
  if [[ $cached_stdlib != "$stdlib" ]]; then
    echo "test.sh: $BUILD_DIR was configured with CMAKE_CXX_FLAGS='$cached_flags', which does" \
      "not match PARMAP_STDLIB='$stdlib'." >&2
    echo "test.sh: remove it (rm -rf $BUILD_DIR) or pick another one (BUILD_DIR=...)." >&2
    exit 2
  fi
fi
read -r -a extra_cmake_args <<<"${CMAKE_ARGS:-}"
configure+=("${extra_cmake_args[@]}")
"${configure[@]}"

jobs=$(nproc 2>/dev/null || echo 2)
cmake --build "$BUILD_DIR" --parallel "$jobs"

# Sanitizer reports must fail the run, not scroll past: stop at the first report (TSan would
# otherwise exit 66 only at the end, after later tests muddied the log). Callers may override.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# --no-tests=error: a build whose test discovery silently registered nothing must not pass.
read -r -a extra_ctest_args <<<"${CTEST_ARGS:-}"
status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error --parallel "$jobs" \
  "${extra_ctest_args[@]}" || status=$?
# The stress suite's summary (scenarios run, failures, seed) goes to the test's stderr, which
# ctest shows only for failures; CI logs should say how much the soak really ran.
grep -h "^parmap stress:" "$BUILD_DIR/Testing/Temporary/LastTest.log" 2>/dev/null || true

# Every kind of test must have been registered: a discovery or a glob that silently found
# nothing (tests/CMakeLists.txt, examples/CMakeLists.txt) would otherwise pass unnoticed. Only
# for a full run; CTEST_ARGS may select some labels on purpose.
if [[ -z "${CTEST_ARGS:-}" ]]; then
  for label in unit stress compile_fail package example mpi; do
    count=$(ctest --test-dir "$BUILD_DIR" -N -L "^${label}\$" |
      sed -n 's/^Total Tests: //p')
    if [[ ${count:-0} -eq 0 ]]; then
      echo "test.sh: no tests labelled '$label' ran" >&2
      status=1
    fi
  done
fi
exit "$status"
