#!/usr/bin/env bash
# On a fresh machine: set up, build, and run the default verification (every
# workload under scx_aqmap on a sched_ext kernel in a VM); prints the verdict
# and exits with aqcheck's exit code.  Reports land in out/verify.*.
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${AQ_KERNEL:-7.2}
bash ci/setup.sh --kernel "$kernel"
cmake --preset default
cmake --build --preset default
mkdir -p out
set +e
build/default/harness/aqcheck vm --kernel "$kernel" --timeout 1500 -- run --workload all \
  --json out/verify.json --junit out/verify.xml --markdown out/verify.md
rc=$?
set -e
echo "verify: reports in out/verify.{json,xml,md}; aqcheck exit $rc"
exit $rc
