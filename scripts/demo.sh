#!/usr/bin/env bash
# Builds and runs examples/memory_demo, passing its arguments through:
#   scripts/demo.sh            # the full demo
#   scripts/demo.sh --quick    # a short run
# Needs only cmake and a C++20 compiler (no Catch2: tests are not configured). Build dir:
# $BUILD_DIR, default build-demo/ (Release, so the timings it prints mean something).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build-demo}

# shellcheck source=scripts/install_support.sh
source "$root/scripts/install_support.sh"
missing=()
need_build_tools missing
apt_install "${missing[@]}"

build_release_target "$build_dir" parmap_example_memory_demo \
  -DPARMAP_BUILD_TESTS=OFF -DPARMAP_BUILD_EXAMPLES=ON -DPARMAP_BUILD_BENCHMARKS=OFF
exec "$build_dir/examples/memory_demo" "$@"
