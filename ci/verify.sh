#!/usr/bin/env bash
# On a fresh machine: set up, build, and run the default verification (every
# workload under scx_aqmap on a sched_ext kernel in a VM); prints the verdict
# and exits with aqcheck's exit code.  Reports land in out/verify.*.
#
# It builds only aqcheck and the BPF objects it embeds: the tests, mutants
# and benchmarks are ci/test.sh's.  At the end it prints how long set-up,
# build and run took (README "How long it takes").
set -euo pipefail
cd "$(dirname "$0")/.."
kernel=${AQ_KERNEL:-7.2}
t0=$(date +%s)
bash ci/setup.sh --kernel "$kernel"
t1=$(date +%s)
cmake --preset default >/dev/null
cmake --build --preset default --target aqcheck
t2=$(date +%s)
mkdir -p out
set +e
build/default/harness/aqcheck vm --kernel "$kernel" --timeout 1500 -- run --workload all \
  --json out/verify.json --junit out/verify.xml --markdown out/verify.md
rc=$?
set -e
t3=$(date +%s)
echo "verify: reports in out/verify.{json,xml,md}; aqcheck exit $rc"
echo "verify: set-up $((t1 - t0)) s, build $((t2 - t1)) s, run $((t3 - t2)) s; $((t3 - t0)) s in all"
exit $rc
