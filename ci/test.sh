#!/usr/bin/env bash
# The project's tests, end to end: set-up (idempotent), the default and
# ThreadSanitizer builds, unit, property and ops-level tests (ctest), then the pytest
# tiers that boot the sched_ext kernel (ci/tests).  Fails if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/test
mkdir -p "$out"

bash ci/setup.sh --kernel "${AQ_KERNEL:-7.2}"
# The kernel's own sched_ext selftests, for ci/tests/test_conformance.py.
bash ci/selftests.sh --kernel "${AQ_KERNEL:-7.2}"

echo "== build: default preset"
cmake --preset default
cmake --build --preset default
echo "== ctest: unit + properties + ops (default)"
ctest --preset default -L 'unit|properties|ops' --output-junit "$PWD/$out/ctest-default.xml"

echo "== build: tsan preset (property suite and harness under ThreadSanitizer)"
cmake --preset tsan
cmake --build --preset tsan
echo "== ctest: unit + properties + ops (tsan)"
ctest --preset tsan -L 'unit|properties|ops' --output-junit "$PWD/$out/ctest-tsan.xml"

echo "== browser: Debian's chromium for the HTML reports' test"
bash ci/browser-setup.sh

echo "== pytest: VM smoke, bad input, kernel tier"
export AQCHECK="$PWD/build/default/harness/aqcheck"
export AQ_TEST_OUT="$PWD/$out/pytest"
# Debian's interpreter: pytest comes from python3-pytest, not from any other python on PATH.
/usr/bin/python3 -m pytest ci/tests -v -rs --junitxml="$out/pytest.xml" "$@"
