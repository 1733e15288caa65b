#!/usr/bin/env bash
# The release gate in one command: set-up for every kernel asked for, the
# default build, then `aqcheck gate` with the same arguments.
#
# Usage: ci/gate.sh [--profile smoke|release] [--kernels 7.2,7.3] [--shard I/N]
#                   [--out DIR] [--accel tcg|kvm|auto] [--case SUBSTR]
# Defaults: --profile release --kernels 7.2,7.3 --out out/gate.  Exit 0 PASS,
# 1 FAIL, 2 bad arguments; the verdict and summary are in DIR/gate.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
kernels=
profile=
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --kernels) kernels=${args[$((i + 1))]:-} ;;
    --kernels=*) kernels=${args[$i]#--kernels=} ;;
    --profile) profile=${args[$((i + 1))]:-} ;;
    --profile=*) profile=${args[$i]#--profile=} ;;
  esac
done
[ -n "$profile" ] || args+=(--profile release)
[ -n "$kernels" ] || { kernels=7.2,7.3; args+=(--kernels "$kernels"); }
setup_args=()
IFS=, read -ra series <<< "$kernels"
for k in "${series[@]}"; do setup_args+=(--kernel "$k"); done
bash ci/setup.sh "${setup_args[@]}"
# The release profile runs the kernel's own selftests (kernel conformance).
[ "${profile:-release}" = smoke ] || bash ci/selftests.sh "${setup_args[@]}"
cmake --preset default >/dev/null
cmake --build --preset default
exec build/default/harness/aqcheck gate "${args[@]}"
