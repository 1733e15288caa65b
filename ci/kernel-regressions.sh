#!/usr/bin/env bash
# The known-bad kernel matrix (docs/kernel-ci.md "Known-bad kernels"): for
# each regression of kernels/regressions/, build the kernel with it applied
# (incrementally, from ci/build-kernel.sh's cached build of the same source)
# and run the aqcheck scenario its header names.  Each must FAIL with the
# reason its header expects; a regression that survives is reported, never
# hidden.
#
# First, as a control, each distinct scenario runs on the unpatched kernel
# built from the same source and must PASS: a catch on a kernel that fails
# anyway would prove nothing.  aqcheck itself is built against that kernel's
# own BTF (its vmlinux.h): ci/build-kernel.sh --aqcheck.
#
# Usage: ci/kernel-regressions.sh [--series S | --tree DIR] [--only ID]...
#          [--repeat N] [--out DIR] [--no-control] [--accel A] [--timeout S] [--report FILE]
#   --only ID      these regressions (an id prefix; repeatable), else all
#   --repeat N     run each regression's scenario N times (catch rate)
#   --timeout S    kill a guest that has not finished after S seconds (default
#                  900): a known-bad kernel may hang the guest outright
#   --report FILE  one regression (--only): its run report is copied to FILE,
#                  and the exit code is that run's (the release gate's
#                  kernel-regressions section)
# Writes DIR (default out/kernel-regressions)/matrix.{json,md} and, per run,
# <id>/run-<k>.{json,log} and console logs.  Exit codes: 0 every regression
# caught as expected (and every control passed); 1 one survived, was caught by
# another check, or a control failed; 2 bad argument; 6 a build failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
log() { echo "kernel-regressions: $*" >&2; }
die() { local rc=$1; shift; echo "kernel-regressions: $*" >&2; exit "$rc"; }

source_args=(--series 7.2) only=() repeat=1 out=$repo/out/kernel-regressions report="" control=1 accel=tcg
timeout=900
while [ $# -gt 0 ]; do
  case "$1" in
    --series|--tree) [ $# -ge 2 ] || die 2 "$1 needs a value"; source_args=("$1" "$2"); shift ;;
    --only) [ $# -ge 2 ] || die 2 "--only needs an id"; only+=("$2"); shift ;;
    --repeat) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die 2 "--repeat needs a positive number"; repeat=$2; shift ;;
    --out) [ $# -ge 2 ] || die 2 "--out needs a directory"; out=$2; shift ;;
    --report) [ $# -ge 2 ] || die 2 "--report needs a file"; report=$2; shift ;;
    --no-control) control=0 ;;
    --accel) [ $# -ge 2 ] || die 2 "--accel needs a value"; accel=$2; shift ;;
    --timeout) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die 2 "--timeout needs seconds"; timeout=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument: $1" ;;
  esac
  shift
done
[ -z "$report" ] || [ ${#only[@]} -eq 1 ] || die 2 "--report needs exactly one --only"
[ -z "$report" ] || control=0
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The regressions, as their headers say (ci/kernel_regressions.py).
only_args=()
for o in "${only[@]}"; do only_args+=(--only "$o"); done
table=$(python3 "$here/kernel_regressions.py" --fields id,origin,title,run,expect,catch "${only_args[@]}") || die 2 "kernels/regressions/: bad header (above)"
[ -n "$table" ] || die 2 "no regression matches: ${only[*]}"
printf '%s\n' "$table" > "$out/regressions.tsv"

# The unpatched kernel, and aqcheck against its BTF.
base=$("$here/build-kernel.sh" "${source_args[@]}" --aqcheck | tail -1) || die 6 "the unpatched kernel did not build"
aq=$base/aqcheck

# run_scenario KERNEL-DIR DIR NAME SCENARIO...: one boot, reports as DIR/NAME.*
run_scenario() {
  local k=$1 dir=$2 name=$3 rc
  shift 3
  mkdir -p "$dir"
  set +e
  "$aq" vm --kernel "$k/vmlinuz" --accel "$accel" --timeout "$timeout" --console "$dir/$name.console.log" -- \
    "$@" --json "$dir/$name.json" > "$dir/$name.log" 2>&1
  rc=$?
  set -e
  echo "$rc" > "$dir/$name.exit"
  return 0
}

if [ $control -eq 1 ]; then
  cut -f4 <<<"$table" | sort -u | while IFS= read -r scenario; do
    key=$(printf '%s' "$scenario" | sha256sum | cut -c1-8)
    log "control: $scenario on $(cat "$base/version")"
    # shellcheck disable=SC2086
    run_scenario "$base" "$out/control" "$key" $scenario
    printf '%s\t%s\n' "$key" "$scenario" >> "$out/control/scenarios.tsv"
    log "control: exit $(cat "$out/control/$key.exit") ($out/control/$key.log)"
  done
fi

while IFS=$'\t' read -r id origin title scenario expect catch; do
  k=$("$here/build-kernel.sh" "${source_args[@]}" --regression "$id" | tail -1) || die 6 "$id: the kernel did not build"
  mkdir -p "$out/$id"
  cp "$k/build.json" "$out/$id/build.json"
  for (( r=1; r<=repeat; r++ )); do
    log "$id ($origin, catch $catch) run $r/$repeat: $scenario"
    # shellcheck disable=SC2086
    run_scenario "$k" "$out/$id" "run-$r" $scenario
    log "$id run $r: exit $(cat "$out/$id/run-$r.exit")"
  done
done <<<"$table"

if [ -n "$report" ]; then
  id=$(cut -f1 <<<"$table")
  cp "$out/$id/run-1.json" "$report" 2>/dev/null || die 6 "$id: the run wrote no report: $out/$id/run-1.log"
  exit "$(cat "$out/$id/run-1.exit")"
fi
python3 "$here/kernel_regressions.py" summarize "$out"
