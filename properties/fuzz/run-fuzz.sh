#!/usr/bin/env bash
# Fuzz the twin for SECONDS with libFuzzer, starting from the seed corpus.
# Crashing inputs are left in $AQ_FUZZ_OUT/crashes (default: ./fuzz-out);
# the script prints how to replay one and exits nonzero if any was found.
#
# usage: run-fuzz.sh SECONDS
# env:   AQ_FUZZ_BIN  the list_fuzz binary (default: build/default/properties/fuzz/list_fuzz)
#        AQ_FUZZ_OUT  output directory (corpus copy + crashes)
set -eu
secs=${1:?usage: run-fuzz.sh SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
bin=${AQ_FUZZ_BIN:-$here/../../build/default/properties/fuzz/list_fuzz}
out=${AQ_FUZZ_OUT:-$PWD/fuzz-out}
# Report only this run's crashes; an earlier run's are kept aside.
if compgen -G "$out/crashes/*" >/dev/null; then
	mkdir -p "$out/crashes.old"
	mv "$out"/crashes/* "$out/crashes.old/"
fi
mkdir -p "$out/corpus" "$out/crashes"
[[ -x $bin ]] || { echo "run-fuzz.sh: no fuzzer binary at $bin (build target list_fuzz)" >&2; exit 2; }

# New inputs go to a scratch corpus; the seeds in the repository stay as they are.
set +e
"$bin" -max_total_time="$secs" -max_len=768 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$out/crashes/" "$out/corpus" "$here/corpus" 2>"$out/fuzz.log"
rc=$?
set -e
grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$out/fuzz.log" || tail -3 "$out/fuzz.log"

shopt -s nullglob
crashes=("$out"/crashes/*)
if ((${#crashes[@]})); then
	echo "run-fuzz.sh: ${#crashes[@]} crashing input(s) in $out/crashes (log: $out/fuzz.log)"
	echo "replay one with:"
	echo "  $bin ${crashes[0]}"
	exit 1
fi
if ((rc != 0)); then
	echo "run-fuzz.sh: fuzzer exited with $rc (log: $out/fuzz.log)" >&2
	exit "$rc"
fi
echo "run-fuzz.sh: ${secs}s, no crashes"
