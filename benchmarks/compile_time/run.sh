#!/usr/bin/env bash
# Compile time of a translation unit that uses parmap, next to one that uses oneTBB's
# parallel_for, measured side by side in one run.
#
#   benchmarks/compile_time/run.sh                    # $CXX (default g++), 5 rounds
#   RUNS=9 CXX=clang++-16 benchmarks/compile_time/run.sh
#   BASELINE=8a16bfe benchmarks/compile_time/run.sh   # the headers of that commit as well
#   BASELINE="8a16bfe accf80c" benchmarks/compile_time/run.sh  # of each of these commits
#
# Each translation unit is a small file in this folder:
#   include_only.cpp      #include <parmap/parmap.hpp>, nothing else
#   list_call.cpp         one parmap::Parallel call, return_as::list, over iota | transform(delayed)
#   generator_call.cpp    the same call with return_as::generator, its results summed
#   tbb_include_only.cpp  #include <tbb/parallel_for.h>, nothing else
#   tbb_call.cpp          one tbb::parallel_for call filling a vector
# compiled (-c, no link) at -O2 -std=c++20 with $CXX, against this checkout's include/ and,
# with BASELINE=<commit> (or several, space-separated), against that commit's include/
# (extracted with git archive to a temporary folder). Round k compiles every translation unit once, in the same order, so load
# on a shared machine hits them alike; the table gives the median over RUNS rounds of the wall
# time and of the CPU time (user + system, steadier when the machine is busy), and each
# median as a ratio to the oneTBB one-call translation unit. The load average is printed
# before and after: compare runs only at similar load.
#
# Environment: CXX (compiler, default g++), RUNS (rounds, default 5), BASELINE (git commits),
# CXXFLAGS_EXTRA (added to every compile, e.g. "-stdlib=libc++"). oneTBB rows are skipped,
# with a message, when <tbb/parallel_for.h> does not compile.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${CXX:-g++}
runs=${RUNS:-5}
baseline=${BASELINE:-}
read -r -a extra <<<"${CXXFLAGS_EXTRA:-}"
flags=(-O2 -std=c++20 "${extra[@]}")

if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: RUNS must be a positive integer, not '$runs'" >&2
  exit 2
fi
command -v "$cxx" >/dev/null || { echo "run.sh: compiler '$cxx' not found" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The contestants: "label|include dir|source". The include dir is empty for oneTBB's.
contestants=()
add_parmap() {  # $1: label suffix, $2: include dir
  contestants+=("include only$1|$2|include_only.cpp")
  contestants+=("list call$1|$2|list_call.cpp")
  contestants+=("generator call$1|$2|generator_call.cpp")
}
for commit in $baseline; do
  git -C "$root" rev-parse --verify --quiet "$commit^{commit}" >/dev/null ||
    { echo "run.sh: BASELINE '$commit' is not a commit of $root" >&2; exit 2; }
  mkdir -p "$work/$commit"
  git -C "$root" archive "$commit" include | tar -x -C "$work/$commit"
  add_parmap " ($commit)" "$work/$commit/include"
done
add_parmap " (this checkout)" "$root/include"
if echo '#include <tbb/parallel_for.h>' | "$cxx" "${flags[@]}" -x c++ -fsyntax-only - 2>/dev/null; then
  contestants+=("oneTBB include only||tbb_include_only.cpp")
  contestants+=("oneTBB parallel_for call||tbb_call.cpp")
  have_tbb=1
else
  echo "run.sh: <tbb/parallel_for.h> does not compile with $cxx; oneTBB rows skipped" >&2
  have_tbb=0
fi

# One compile; appends "wall cpu" seconds to $work/<index>.times.
TIMEFORMAT='%R %U %S'
compile() {  # $1: index, $2: include dir, $3: source
  local include=() t
  [[ -n "$2" ]] && include=(-I "$2")
  t=$({ time "$cxx" "${flags[@]}" "${include[@]}" -c "$here/$3" -o "$work/out.o" 2>"$work/err"; } 2>&1) ||
    { cat "$work/err" >&2; echo "run.sh: $3 failed to compile" >&2; exit 1; }
  awk '{ printf "%s %.3f\n", $1, $2 + $3 }' <<<"$t" >>"$work/$1.times"
}

echo "compiler: $($cxx --version | head -n 1); flags: ${flags[*]}; rounds: $runs"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
for ((round = 1; round <= runs; round++)); do
  for i in "${!contestants[@]}"; do
    IFS='|' read -r _ include source <<<"${contestants[$i]}"
    compile "$i" "$include" "$source"
  done
done
echo "load after:  $(uptime | sed 's/.*load average/load average/')"

median() {  # $1: file, $2: column
  sort -g -k "$2,$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ref_wall="" ref_cpu=""
if ((have_tbb)); then
  last=$((${#contestants[@]} - 1))
  ref_wall=$(median "$work/$last.times" 1)
  ref_cpu=$(median "$work/$last.times" 2)
fi
echo
echo "| translation unit | wall (s) | CPU (s) | wall / oneTBB call | CPU / oneTBB call |"
echo "|---|---:|---:|---:|---:|"
for i in "${!contestants[@]}"; do
  IFS='|' read -r label _ _ <<<"${contestants[$i]}"
  wall=$(median "$work/$i.times" 1)
  cpu=$(median "$work/$i.times" 2)
  if ((have_tbb)); then
    awk -v l="$label" -v w="$wall" -v c="$cpu" -v rw="$ref_wall" -v rc="$ref_cpu" \
      'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.2f |\n", l, w, c, w / rw, c / rc }'
  else
    awk -v l="$label" -v w="$wall" -v c="$cpu" \
      'BEGIN { printf "| %s | %.2f | %.2f | - | - |\n", l, w, c }'
  fi
done
echo
echo "Medians of $runs round(s); CPU is user + system time of the compiler."
