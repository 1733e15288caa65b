#!/usr/bin/env bash
# The ops-level kill matrix: every mutant's explorer (aqops_<mutant>, the
# ops-level mutants of mutate.py and list_<NN_name>, the list mutants of
# properties/mutants) under each strategy, with the check that killed it and
# the time to the kill.  Fails if a mutant survives every strategy and is not
# in equivalent.txt (with the reason it cannot be told apart), if a mutant in
# equivalent.txt is killed after all, or if a check of ops/sim/sim.h is
# tripped by no mutant (an unproven check) and not exempt below.
#
# usage: kill-matrix.sh <ops build dir> <ops source dir> <mutant>...
# env:   AQ_OPS_JOBS  parallel runs (default: nproc)
set -u
bindir=$1 srcdir=$2
shift 2
jobs=${AQ_OPS_JOBS:-$(nproc)}
logs=$bindir/mutants/logs
mkdir -p "$logs"

# The strategies: name and explorer arguments.  dfs: the small configuration
# bounded-exhaustively with one injected lock failure; pct and random: 300
# generated scripts, 100 schedules each; burst: dfs again, each injected
# failure repeated 16 times (the documented ejection's threshold); finding1:
# finding 1's script at preemption bound 3 (scripts/finding1.txt).
declare -A args=(
	[dfs]="--script-file $srcdir/scripts/small.txt --faults 1"
	[pct]="--scripts 300 --strategy pct --schedules 100 --seed 1 --faults 1"
	[random]="--scripts 300 --strategy random --schedules 100 --seed 1 --faults 1"
	[burst]="--script-file $srcdir/scripts/small.txt --faults 1 --fault-burst 16"
	[finding1]="--script-file $srcdir/scripts/finding1.txt --bound 3 --faults 1"
)
strategies=(dfs pct random burst finding1)
# Checks no scheduler bug can trip: the model's own assertions (a WARN or
# BUG of ext.c that the kernel's protocol rules out whatever the callbacks do).
# And "probe", which is no check: the state aqops --probe-newer-custody seeks.
exempt=(kernel probe)

run_one() {
	local m=$1 s=$2
	# shellcheck disable=SC2086
	timeout 300 "$bindir/aqops_$m" explore --no-shrink ${args[$s]} >"$logs/$m.$s.log" 2>&1
	echo $? >"$logs/$m.$s.rc"
}
export -f run_one
export bindir logs
export args_dfs="${args[dfs]}" args_pct="${args[pct]}" args_random="${args[random]}" args_burst="${args[burst]}"
export args_finding1="${args[finding1]}"
for m in "$@"; do for s in "${strategies[@]}"; do echo "$m $s"; done; done |
	xargs -P "$jobs" -L 1 bash -c 'declare -A args=([dfs]="$args_dfs" [pct]="$args_pct" [random]="$args_random" [burst]="$args_burst" [finding1]="$args_finding1"); run_one "$1" "$2"' _

mapfile -t all_checks < <(sed -n 's/.*inline constexpr const char \*k[A-Za-z]* = "\([a-z-]*\)".*/\1/p' "$srcdir/sim/sim.h")
declare -A tripped
fail=0
printf '%-36s' mutant; printf ' %-20s' "${strategies[@]}"; echo
for m in "$@"; do
	row=$(printf '%-36s' "$m")
	killed=0
	for s in "${strategies[@]}"; do
		rc=$(cat "$logs/$m.$s.rc" 2>/dev/null || echo x)
		log=$logs/$m.$s.log
		if [ "$rc" = 1 ]; then
			check=$(sed -n 's/^FAIL \[\([a-z-]*\)\].*/\1/p' "$log" | head -1)
			secs=$(sed -n 's/^found after \([0-9.]*\) s.*/\1/p' "$log" | head -1)
			tripped[$check]=1
			killed=1
			cell="$check ${secs}s"
		elif [ "$rc" = 0 ]; then
			cell="-"
		else
			cell="ERROR rc=$rc"
			fail=1
		fi
		row+=$(printf ' %-20s' "$cell")
	done
	reason=$(sed -n "s/^$m: //p" "$srcdir/mutants/equivalent.txt")
	if [ $killed = 0 ] && [ -z "$reason" ]; then
		row+="  SURVIVED"
		fail=1
	elif [ $killed = 0 ]; then
		row+="  equivalent: $reason"
	elif [ -n "$reason" ]; then
		row+="  KILLED but listed as equivalent"
		fail=1
	fi
	echo "$row"
done
echo
for c in "${all_checks[@]}"; do
	if [ -z "${tripped[$c]:-}" ]; then
		if printf '%s\n' "${exempt[@]}" | grep -qx "$c"; then
			echo "check [$c]: exempt (see kill-matrix.sh)"
		else
			echo "check [$c]: tripped by no mutant (an unproven check)"
			fail=1
		fi
	fi
done
echo "logs: $logs"
[ $fail = 0 ] && echo "kill matrix: PASS" || echo "kill matrix: FAIL"
exit $fail
