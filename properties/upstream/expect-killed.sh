#!/usr/bin/env bash
# Runs the property suite (List* tests) against each mutant of the generated
# mainline header (aq_props_qmap_upstream_<mutant>) and fails unless every
# mutant is caught.  Prints, per mutant, the properties that failed and the
# checks the shrunk counterexamples tripped.
#
# usage: expect-killed.sh <properties build dir> <mutant>...
# env:   AQ_UPSTREAM_MUTANT_RC_PARAMS (default max_success=2000: a remove
#        without its re-check needs a specific race, ~80% found in 300 cases)
set -u
bindir=$1
shift
params=${AQ_UPSTREAM_MUTANT_RC_PARAMS:-max_success=2000}
here=$(cd "$(dirname "$0")" && pwd)
# Under TSan, mainline's one known race (tsan-mainline.supp) must not count
# as a kill: only failing properties (or another race) do.
export TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$here/tsan-mainline.supp}
logs=$bindir/upstream/logs
mkdir -p "$logs"
status=0
printf 'mainline mutants (rapidcheck %s):\n' "$params"
for m in "$@"; do
	log=$logs/$m.log
	RC_PARAMS="$params" timeout 300 "$bindir/aq_props_qmap_upstream_$m" --gtest_filter='List*' >"$log" 2>&1
	rc=$?
	failed=$(sed -n 's/^\[  FAILED  \] \([A-Za-z.]*\) (.*/\1/p' "$log" | paste -sd' ' -)
	checks=$(grep -o '^\[[a-z][a-z-]*\] ' "$log" | tr -d '[] ' | sort -u | paste -sd, -)
	grep -q 'WARNING: ThreadSanitizer' "$log" && checks="${checks:+$checks,}tsan"
	if [[ $rc == 0 ]]; then
		printf '  %-20s SURVIVED (log %s)\n' "$m" "$log"
		status=1
	else
		printf '  %-20s killed by: %s; checks: %s\n' "$m" "${failed:-exit $rc}" "${checks:--}"
	fi
done
exit $status
