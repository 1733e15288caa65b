#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kselftest entry point: aqcheck's kernel tier (every check of `aqcheck run`)
# on the running kernel, as KTAP on stdout, with kselftest's exit codes:
# 0 pass, 1 fail, 4 skip (no sched_ext, not root, no aqcheck or stress-ng).
#
#   AQCHECK           the aqcheck binary (default: ./aqcheck beside this script)
#   AQCHECK_WORKLOAD  a workload, or "all" (default)
#   AQCHECK_ARGS      more `aqcheck run` options, e.g. "--duration 5"
# docs/kernel-ci.md "KTAP" in aqcheck's repository says how KernelCI and LKFT
# run it.
here=$(cd "$(dirname "$0")" && pwd)
aqcheck=${AQCHECK:-$here/aqcheck}
ksft_skip=4

if [ ! -x "$aqcheck" ]; then
	echo "# SKIP: no aqcheck binary at $aqcheck"
	exit $ksft_skip
fi
if ! command -v stress-ng >/dev/null 2>&1; then
	echo "# SKIP: stress-ng is not installed"
	exit $ksft_skip
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# shellcheck disable=SC2086
"$aqcheck" run --workload "${AQCHECK_WORKLOAD:-all}" --workloads-dir "$here/workloads" \
	--ktap "$out/aqcheck.ktap" --json "$out/aqcheck.json" $AQCHECK_ARGS > "$out/aqcheck.log" 2>&1
rc=$?

if [ -s "$out/aqcheck.ktap" ]; then
	cat "$out/aqcheck.ktap"
else
	# No report: say why, the last lines aqcheck printed.
	tail -20 "$out/aqcheck.log" | sed 's/^/# /'
fi
case $rc in
0) exit 0 ;;
3|4) exit $ksft_skip ;;	# aqcheck: not root (3), no sched_ext (4)
*) exit 1 ;;
esac
