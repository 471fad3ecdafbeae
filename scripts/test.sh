#!/usr/bin/env bash
# Builds parmap's tests, examples and benchmarks and runs the test suite; installs what is
# missing first (Debian/Ubuntu, via apt-get). This is the test command the README gives.
#
#   scripts/test.sh                          # g++ (or $CXX), build dir build/
#   PARMAP_SANITIZE=thread scripts/test.sh   # ThreadSanitizer, build dir build-thread/
#   PARMAP_SANITIZE=address scripts/test.sh  # AddressSanitizer + UBSan, build-address/
#
# Environment: BUILD_DIR (build directory), CXX (compiler), PARMAP_SANITIZE ("", thread,
# address), BUILD_TYPE (default Debug), CMAKE_ARGS (extra configure arguments, split on spaces),
# CTEST_ARGS (extra ctest arguments, e.g. "-L stress" or "-R ordered"). Exits non-zero on any
# failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=${PARMAP_SANITIZE:-}
case "$sanitize" in
  "" | thread | address) ;;
  *) echo "test.sh: PARMAP_SANITIZE must be empty, thread or address, not '$sanitize'" >&2; exit 2 ;;
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
cxx=${CXX:-g++}
missing=()
command -v cmake >/dev/null || missing+=(cmake)
if ! command -v "$cxx" >/dev/null; then
  case "$(basename "$cxx")" in
    clang++*) missing+=(clang) ;;
    *) missing+=(g++) ;;
  esac
fi
command -v ninja >/dev/null || command -v make >/dev/null || missing+=(ninja-build)
# Catch2: Debian's package installs its CMake config here; a v3 built from source usually
# lives under /usr/local. Either one will do.
have_catch2=no
for dir in /usr/lib/cmake /usr/lib/*/cmake /usr/share/cmake /usr/local/lib/cmake \
  /usr/local/lib/*/cmake /usr/local/share/cmake; do
  [[ -f "$dir/Catch2/Catch2Config.cmake" ]] && have_catch2=yes
done
[[ $have_catch2 == yes ]] || missing+=(catch2)

apt_install() {
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "test.sh: missing packages: $*; install them as root (apt-get install $*)" >&2
      exit 1
    fi
    apt=(sudo "${apt[@]}")
  fi
  echo "test.sh: installing $*"
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends "$@"
}
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
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
fi

configure=(cmake -S "$root" -B "$BUILD_DIR"
  "-DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Debug}"
  "-DPARMAP_SANITIZE=$sanitize"
  "-DCMAKE_CXX_COMPILER=$cxx")
# Ninja when there is one (faster no-op rebuilds); only on a fresh directory, because CMake
# refuses to switch the generator of an existing one.
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
  configure+=(-G Ninja)
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
exit "$status"
