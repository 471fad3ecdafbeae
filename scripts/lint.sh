#!/usr/bin/env bash
# Lint, as a step of its own (not inside every compile): clang-format check and clang-tidy
# (version 14, configs .clang-format and .clang-tidy) over the headers, tests and examples.
#   scripts/lint.sh            # report
#   FIX=1 scripts/lint.sh      # let clang-format rewrite the files in place
# Uses build/compile_commands.json (scripts/test.sh creates build/). Exits non-zero on findings.
# Known limit: clang-tidy 14 is clang 14, which cannot compile libstdc++ 12's <ranges> views
# ("no matching function for call to '__begin'"), so files using std::views also report
# clang-diagnostic-error; the other checks still run on what it could parse.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${BUILD_DIR:-build}

mapfile -t files < <(git ls-files --cached --others --exclude-standard \
  'include/*.hpp' 'tests/*.hpp' 'tests/*.cpp' 'examples/*.cpp' 'benchmarks/*.cpp' |
  grep -v '^tests/compile_fail/')
if ((${#files[@]} == 0)); then
  echo "lint.sh: nothing to lint"
  exit 0
fi

status=0
if [[ -n "${FIX:-}" ]]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run -Werror "${files[@]}" || status=1
fi

if [[ ! -f "$build_dir/compile_commands.json" ]]; then
  cmake -S . -B "$build_dir" >/dev/null
fi
# clang-tidy reads the .cpp files from compile_commands.json; headers are checked through them
# (HeaderFilterRegex in .clang-tidy).
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cpp$' | grep -v '^tests/package/')
if ((${#sources[@]})); then
  clang-tidy -p "$build_dir" --quiet --warnings-as-errors="*" "${sources[@]}" || status=1
fi
exit $status
