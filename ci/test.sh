#!/usr/bin/env bash
# The project's tests, end to end: set-up (idempotent), the default and
# ThreadSanitizer builds, unit, property and ops-level tests (ctest), then the pytest
# tiers that boot the sched_ext kernel (ci/tests).  Fails if any test fails.
#
# Budget: 45 minutes from a fresh clone on a 2-core machine (docs/ci.md
# "The time budget").  On the way out, passed or not, it prints each phase's
# time, the total and the ten slowest tests (ci/test_times.py).
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/test
mkdir -p "$out"
rm -f "$out"/*.xml
phases=$out/phases.tsv
: > "$phases"
start=$(date +%s)
trap '/usr/bin/python3 ci/test_times.py --phases "$phases" --total $(( $(date +%s) - start )) "$out"/*.xml || true' EXIT

# phase NAME COMMAND...: runs COMMAND, records its time and exit code.
phase() {
  local name=$1 t rc=0
  shift
  echo "== $name"
  t=$(date +%s)
  "$@" || rc=$?
  printf '%s\t%d\t%d\n' "$name" $(( $(date +%s) - t )) "$rc" >> "$phases"
  return "$rc"
}

jobs=$(nproc)
phase "set-up" bash ci/setup.sh --kernel "${AQ_KERNEL:-7.2}"
# The kernel's own sched_ext selftests, for ci/tests/test_conformance.py.
phase "selftest runner" bash ci/selftests.sh --kernel "${AQ_KERNEL:-7.2}"

phase "build: default preset" sh -c 'cmake --preset default && cmake --build --preset default'
# Nothing in these suites measures time: they may share the cores.
phase "ctest: unit + properties + ops (default)" \
  ctest --preset default -L 'unit|properties|ops' -j "$jobs" --output-junit "$PWD/$out/ctest-default.xml"

# The tsan preset builds the suites, not the mutants and benchmarks
# (CMakePresets.json): the default preset's kill matrices cover those.
phase "build: tsan preset" sh -c 'cmake --preset tsan && cmake --build --preset tsan'
phase "ctest: unit + properties + ops (tsan)" \
  ctest --preset tsan -L 'unit|properties|ops' -j "$jobs" --output-junit "$PWD/$out/ctest-tsan.xml"

# Debian's chromium, for the HTML reports' browser test.
phase "browser" bash ci/browser-setup.sh

export AQCHECK="$PWD/build/default/harness/aqcheck"
export AQ_TEST_OUT="$PWD/$out/pytest"
# Debian's interpreter: pytest comes from python3-pytest, not from any other python on PATH.
phase "pytest: VM smoke, bad input, kernel tier" \
  /usr/bin/python3 -m pytest ci/tests -v -rs --junitxml="$out/pytest.xml" "$@"
