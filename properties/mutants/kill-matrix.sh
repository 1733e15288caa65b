#!/usr/bin/env bash
# Runs the property suite built against every mutant of bpf/aqmap_list.h
# (targets aq_props_<mutant>, one per mutants/*.patch) and prints the kill
# matrix: per mutant, seconds each property needed to kill it ('-' = it
# survived that property), the checks it tripped, and the time to the first
# kill.  Fails if any mutant survives, or if any check named in
# check/invariants.h was tripped by no mutant (an unproven check).
#
# usage: kill-matrix.sh <properties build dir> <mutant>...
# env:   AQ_STALE_MUTANTS     patches that no longer apply (set by CMake): fail
#        AQ_MUTANT_RC_PARAMS  rapidcheck params (default: 100 cases per property)
#        AQ_MUTANT_JOBS       parallel mutant runs (default: nproc)
set -u
bindir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
params=${AQ_MUTANT_RC_PARAMS:-max_success=100}
jobs=${AQ_MUTANT_JOBS:-$(nproc)}
logs=$bindir/mutants/logs
mkdir -p "$logs"
# The properties; the lock tests do not involve the list header.
tests=(ListProps.SequentialModel ListProps.LockFaults ListProps.PreemptionRaces
       ListProps.RequeueAcrossFifos ListConcurrency.LinearizableUnderThreads)
short=(seq faults races requeue threads)

run_one() {
	local name=$1
	# Each property stops at its first failing case and shrinks it, so the
	# checks listed are those the minimal counterexample trips.
	RC_PARAMS="$params" timeout 120 "$bindir/aq_props_$name" --gtest_filter='List*' \
		>"$logs/$name.log" 2>&1
	echo $? >"$logs/$name.rc"
}
export -f run_one
export bindir logs params
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}

# One log -> "test status ms tags" lines.  A test whose output shows a
# ThreadSanitizer report counts as killed (tag "tsan"); a test that started
# but never finished crashed the binary.
parse() {
	awk '
	/^\[ RUN      \] / { cur = $4; tags[cur] = ""; st[cur] = "crash"; ms[cur] = 0; order[++n] = cur; next }
	/^\[       OK \] / { st[$4] = "OK"; ms[$4] = substr($5, 2); cur = ""; next }
	/^\[  FAILED  \] .*\(/ { st[$4] = "FAILED"; ms[$4] = substr($5, 2); cur = ""; next }
	/WARNING: ThreadSanitizer:/ { if (cur != "") { tsan[cur] = 1; if (index(tags[cur], " tsan ") == 0) tags[cur] = tags[cur] " tsan " } }
	cur != "" && /^\[[a-z-]+\] / {
		t = substr($1, 2, length($1) - 2)
		if (index(tags[cur], " " t " ") == 0) tags[cur] = tags[cur] " " t " "
	}
	END {
		for (i = 1; i <= n; i++) {
			c = order[i]; s = st[c]; if (s == "OK" && tsan[c]) s = "TSAN"
			g = tags[c]; gsub(/  +/, " ", g); gsub(/^ | $/, "", g); gsub(/ /, ",", g)
			printf "%s %s %s %s\n", c, s, ms[c], (g == "" ? "-" : g)
		}
	}' "$1"
}

checks=$(sed -n 's/.*inline constexpr const char \*k[A-Za-z]* = "\([a-z-]*\)".*/\1/p' \
	"$here/../check/invariants.h")
declare -A tripped_by
survivors=()
printf '\nKill matrix (seconds to kill per property; - = survived it; params: %s)\n\n' "$params"
printf '%-32s' mutant
for s in "${short[@]}"; do printf ' %8s' "$s"; done
printf ' %9s  %s\n' first-kill "checks tripped"
for name in "$@"; do
	declare -A res=() tg=()
	while read -r t st ms tags; do
		res[$t]="$st:$ms"
		tg[$t]=$tags
	done < <(parse "$logs/$name.log")
	killed=0 elapsed=0 first=- alltags=""
	printf '%-32s' "$name"
	for t in "${tests[@]}"; do
		cell=${res[$t]:-}
		st=${cell%%:*} ms=${cell#*:}
		[[ -z $cell ]] && { printf ' %8s' 'n/a'; continue; }
		elapsed=$((elapsed + ms))
		if [[ $st == OK ]]; then
			printf ' %8s' -
		else
			killed=1
			[[ $first == - ]] && first=$(awk -v m="$elapsed" 'BEGIN{printf "%.2f", m/1000}')
			if [[ $st == crash ]]; then printf ' %8s' crash
			else printf ' %8s' "$(awk -v m="$ms" 'BEGIN{printf "%.2f", m/1000}')"; fi
			[[ ${tg[$t]} != - ]] && alltags+=",${tg[$t]}"
		fi
	done
	rc=$(cat "$logs/$name.rc")
	# A binary that failed without any failing test (e.g. tsan exit code) still killed it.
	[[ $killed == 0 && $rc != 0 ]] && { killed=1; first=exit$rc; }
	alltags=$(tr ',' '\n' <<<"${alltags#,}" | sed '/^$/d' | sort -u | paste -sd, -)
	printf ' %9s  %s\n' "$first" "${alltags:--}"
	for c in ${alltags//,/ }; do tripped_by[$c]+=" ${name}"; done
	[[ $killed == 0 ]] && survivors+=("$name")
	unset res tg
done

printf '\nChecks and the mutants that trip them:\n'
unproven=()
for c in $checks; do
	m=${tripped_by[$c]:-}
	printf '  %-16s %s\n' "$c" "${m:- NONE}"
	[[ -z $m ]] && unproven+=("$c")
done
[[ -n ${tripped_by[tsan]:-} ]] && printf '  %-16s %s\n' "(tsan)" "${tripped_by[tsan]}"

status=0
if [[ -n ${AQ_STALE_MUTANTS:-} ]]; then
	printf '\nSTALE MUTANTS (patch does not apply; run mutants/make-patches.py): %s\n' "$AQ_STALE_MUTANTS"
	status=1
fi
if ((${#survivors[@]})); then
	printf '\nSURVIVING MUTANTS: %s\n(logs in %s)\n' "${survivors[*]}" "$logs"
	status=1
fi
if ((${#unproven[@]})); then
	printf '\nCHECKS NO MUTANT TRIPS: %s\n' "${unproven[*]}"
	status=1
fi
((status == 0)) && printf '\nall %d mutants killed; every check tripped by at least one\n' $#
exit $status
