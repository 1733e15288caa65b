#!/usr/bin/env bash
# Runs the kernel tier N times and tabulates its failures per scenario and
# reason: a verdict that is sometimes wrong shows up here as a row that is
# neither always 0 nor always N.
#
# Usage: ci/flake-hunt.sh N [pytest -k EXPR]
#   e.g. ci/flake-hunt.sh 5
#        ci/flake-hunt.sh 20 'lazy or lost'
# Uses the existing build (build/default) and kernel cache; AQ_KERNEL picks the
# series (default 7.2).  Writes out/flake-hunt/<time>/run-<i>.xml, the pytest
# logs, and table.md; prints the table.  Exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [[ "$1" =~ ^[1-9][0-9]*$ ]] || { echo "usage: ci/flake-hunt.sh N [pytest -k EXPR]" >&2; exit 2; }
n=$1
expr=${2:-}
out=out/flake-hunt/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
export AQCHECK="$PWD/build/default/harness/aqcheck"
[ -x "$AQCHECK" ] || { echo "flake-hunt: no $AQCHECK: build first (cmake --preset default && cmake --build --preset default)" >&2; exit 2; }
# The kernel tier: every VM test, no test may skip for want of a kernel.
export AQCHECK_REQUIRE_KERNEL=1
args=(ci/tests -q -p no:cacheprovider)
[ -n "$expr" ] && args+=(-k "$expr")
for i in $(seq 1 "$n"); do
  export AQ_TEST_OUT="$PWD/$out/run-$i"
  start=$(date +%s)
  set +e
  /usr/bin/python3 -m pytest "${args[@]}" --junitxml="$out/run-$i.xml" > "$out/run-$i.log" 2>&1
  rc=$?
  set -e
  echo "flake-hunt: run $i/$n: pytest exit $rc in $(( $(date +%s) - start )) s ($(tail -n 1 "$out/run-$i.log"))"
done
/usr/bin/python3 ci/flake_table.py "$out"/run-*.xml | tee "$out/table.md"
! grep -q '<failure\|<error' "$out"/run-*.xml
