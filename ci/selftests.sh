#!/usr/bin/env bash
# Idempotent build of the kernel's own sched_ext selftest runner
# (tools/testing/selftests/sched_ext) from Debian's linux-source-<series> of
# the kernel under test, for the project's initramfs VM.
#
# 1. Takes the kernel of the series from $AQ_CACHE/kernels/<series> (fetching
#    it with ci/setup.sh --no-install if it is missing) and downloads
#    linux-source-<series> of exactly that Debian version through the private
#    apt state (ci/private-apt.sh).  The package is only unpacked, never
#    installed; the .deb (~165 MB) is deleted once unpacked.
# 2. Unpacks only what the build needs (and the sched_ext sources, for
#    reading) into $AQ_CACHE/src/<series>/.
# 3. Builds libbpf, bpftool and the BPF programs from that tree (clang-19;
#    vmlinux.h of the kernel under test), then links `runner` statically: the
#    VM has no shared libraries.
# 4. Leaves in $AQ_CACHE/selftests/<series>/: runner (static, stripped),
#    tests.txt (`runner -l`), contract-tests.txt (the tests that assert the
#    enqueue/dequeue contract, one per line: name, then what it asserts),
#    source-version ("linux-source-<series> <debian-version>"), build.log.
#    It rebuilds only when that version or this script changed (or --force).
#
# Usage: ci/selftests.sh [--no-install] [--force] [--kernel SERIES]...   (default: 7.2)
# Prints the result directories.
# Exit codes: 0 ok; 2 bad argument; 3 unknown series (no kernel for it);
# 4 not root; 5 linux-source package not found or unusable; 6 build failure
# (the message names the build log).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
self=$here/$(basename "$0")
AQ_CACHE=${AQ_CACHE:-/var/cache/aqcheck}
install=1
force=0
series=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --force) force=1 ;;
    --kernel) [ $# -ge 2 ] || { echo "selftests: --kernel needs a series" >&2; exit 2; }
              series+=("$2"); shift ;;
    *) echo "selftests: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#series[@]} -gt 0 ] || series=(7.2)

log() { echo "selftests: $*" >&2; }
die() { local rc=$1; shift; echo "selftests: $*" >&2; exit "$rc"; }

# shellcheck source=ci/private-apt.sh
. "$here/private-apt.sh"
# shellcheck source=ci/kernel-source.sh
. "$here/kernel-source.sh"

# Host tools for the build, from bookworm.  libzstd-dev: the selftests'
# Makefile links -lzstd; static linking needs libzstd.a.
build_packages=(make gcc libc6-dev clang-19 llvm-19 libelf-dev zlib1g-dev libzstd-dev python3 xz-utils binutils)
install_build_packages() {
  local missing=() p
  for p in "${build_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ $install -eq 1 ] || die 6 "build failure: missing host packages (--no-install): ${missing[*]}"
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm --no-install-recommends "${missing[@]}" >/dev/null
}

# The tests of tools/testing/selftests/sched_ext that assert the kernel's
# enqueue/dequeue contract, the one scx_aqmap's custody audit relies on (read
# from the 7.2 and 7.3 sources; "(7.3)": new in 7.3): the contract itself,
# the dispatch paths that decide whether ops.enqueue() runs at all, clean
# unwinding, the kernel's rejection of invalid inserts, and two load
# prerequisites.  One line each: the name, then what it asserts.  Only the
# ones the built runner knows are written out.
contract_tests() {
  cat <<'EOF'
dequeue while the BPF scheduler has custody (task inserted into a user DSQ from ops.select_cpu or ops.enqueue, or kept in a BPF queue map until ops.dispatch), every ops.enqueue() is followed by exactly one ops.dequeue() (enqueues == dequeues > 0, no second enqueue of a queued task); a dequeue without SCX_DEQ_SCHED_CHANGE only for a queued task, one with it (affinity changes by a hammer thread over CPUs 0-3) only for a queued or dispatched one; a task inserted directly into SCX_DSQ_LOCAL or SCX_DSQ_GLOBAL gets no ops.dequeue() at all; 7 scenarios, each ending in SCX_EXIT_UNREG (a violation is a scx_bpf_error)
dequeue_remote (7.3) ops.dequeue() also ends custody when a task moves to another CPU's local DSQ (SCX_DSQ_LOCAL_ON|cpu from a BPF queue map with stale entries skipped, or scx_bpf_dsq_move_to_local() from a user DSQ): no task reaches ops.running() still in custody, no late dequeue with SCX_DEQ_CORE_SCHED_EXEC without a core cookie, enqueues == dequeues, cross-CPU runs > 0, SCX_EXIT_UNREG; 2 scenarios of 2 s, needs >= 2 CPUs (else SKIP)
dequeue_iter (7.3) ops.dequeue() may iterate (bpf_iter_scx_dsq) the user DSQ its task is leaving: at least 10 dequeues within 3 s and SCX_EXIT_UNREG (no deadlock, no ejection)
dsp_local_on tasks held in a BPF queue map by ops.enqueue() and dispatched from ops.dispatch() with SCX_DSQ_LOCAL_ON|cpu (a random CPU for fully affine tasks) run for 1 s without the scheduler being ejected (SCX_EXIT_UNREG at detach): scx_aqmap's own custody model
select_cpu_dfl with the default ops.select_cpu(), a waking task for which an idle CPU was found goes straight to that CPU's local DSQ and never reaches ops.enqueue() (1028 children)
select_cpu_dfl_nodispatch scx_bpf_select_cpu_dfl() called in ops.select_cpu() without inserting: the task still reaches ops.enqueue(), with the found-idle result, and is inserted there into SCX_DSQ_LOCAL
enq_select_cpu scx_bpf_select_cpu_dfl() called from ops.enqueue() (and from a syscall program through BPF_PROG_RUN) finds an idle CPU, the SCX_DSQ_LOCAL_ON insert to it works, and the scheduler is still loaded after 1 s (SCX_EXIT_NONE)
select_cpu_dispatch a direct insert from ops.select_cpu() into SCX_DSQ_LOCAL (idle CPU) or SCX_DSQ_GLOBAL with no ops.enqueue(): 1028 children sleeping 1 s all run and exit 0 (weak: an ejection would go unnoticed)
select_cpu_vtime vtime inserts into a user DSQ from ops.select_cpu() are consumed by ops.dispatch() (scx_bpf_dsq_move_to_local) within 1 s (the order is not checked)
exit scx_bpf_exit() from ops.select_cpu, enqueue, dispatch, enable, init_task and init unloads the scheduler with SCX_EXIT_UNREG_BPF and that exit code and message, tasks in its user DSQ included (waits for the exit without a timeout)
ddsp_bogus_dsq_fail a vtime insert from ops.select_cpu() into a DSQ that does not exist ejects the scheduler with SCX_EXIT_ERROR within 1 s
ddsp_vtimelocal_fail a vtime insert from ops.select_cpu() into the built-in SCX_DSQ_LOCAL (FIFO only) ejects the scheduler with SCX_EXIT_ERROR within 1 s
select_cpu_dispatch_bad_dsq an insert from ops.select_cpu() into a DSQ that does not exist ejects the scheduler with SCX_EXIT_ERROR within 1 s
select_cpu_dispatch_dbl_dsp inserting the same task twice in one ops.select_cpu() ejects the scheduler with SCX_EXIT_ERROR within 1 s
enq_last_no_enq_fails SCX_OPS_ENQ_LAST without an ops.enqueue(): the attach succeeds but the scheduler is disabled at once (its ops.exit ran)
maximal a scheduler defining every sched_ext_ops callback, ops.dequeue among them, passes the verifier and attaches and detaches (prerequisite: the kernel's ops match the headers)
minimal a scheduler with no callbacks attaches and detaches (prerequisite: sched_ext can be enabled at all)
EOF
}

build_series() {
  local s=$1
  [[ $s =~ ^[0-9]+\.[0-9]+$ ]] || die 3 "unknown series '$s' (expected MAJOR.MINOR, e.g. 7.2)"
  local kdir=$AQ_CACHE/kernels/$s
  if ! [ -s "$kdir/version" ] || ! [ -s "$kdir/vmlinux.h" ]; then
    log "no kernel $s in $kdir: fetching it with ci/setup.sh --no-install --kernel $s"
    local rc=0
    bash "$here/setup.sh" --no-install --kernel "$s" >/dev/null || rc=$?
    [ $rc -eq 0 ] || die 3 "unknown series $s: ci/setup.sh --no-install --kernel $s found no sched_ext kernel for it (exit $rc)"
  fi
  local want pkg stamp out=$AQ_CACHE/selftests/$s src=$AQ_CACHE/src/$s sum
  want=$(sed -n 's/.*(\(.*\)).*/\1/p' "$kdir/version")
  [ -n "$want" ] || die 3 "unknown series $s: no Debian version in $kdir/version"
  pkg=linux-source-$s
  stamp="$pkg $want"
  sum=$(sha256sum "$self" | cut -d' ' -f1)
  if [ $force -eq 0 ] && [ -x "$out/runner" ] && [ "$(cat "$out/source-version" 2>/dev/null)" = "$stamp" ] \
     && [ "$(cat "$out/script-sha256" 2>/dev/null)" = "$sum" ]; then
    log "selftests $s present: $stamp"
    echo "$out"; return
  fi

  # --- source: linux-source-<series> of the kernel's Debian version ---------
  fetch_kernel_source "$s" "$want" || exit $?

  # --- build ------------------------------------------------------------------
  install_build_packages
  local tmp=$out.tmp t0=$SECONDS
  rm -rf "$tmp"; mkdir -p "$tmp/obj"
  local blog=$tmp/build.log
  # VMLINUX_H: the vmlinux.h of the kernel under test (linux-bpf-dev, see
  # setup.sh) for the BPF programs and bpftool's own skeletons.  The Makefile
  # insists on an existing VMLINUX_BTF too but only as a prerequisite of
  # vmlinux.h, so it gets the same file.  SKIP_CRYPTO: bpftool (a build tool
  # here) without program signing, so no libssl-dev.  Command-line variables
  # reach the libbpf and bpftool sub-makes too, which is why -static is only
  # given to the second make that relinks the runner: libbpf.so cannot be
  # linked with it.
  local mk=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u LDFLAGS -u CC
    nice -n 19 make -j1 -C "$src/tools/testing/selftests/sched_ext" OUTPUT="$tmp/obj"
    CC=gcc HOSTCC=gcc CLANG=clang-19 LLC=llc-19 LLVM_STRIP=llvm-strip-19 LLVM_CONFIG=llvm-config-19
    SKIP_CRYPTO=1 VMLINUX_BTF="$kdir/vmlinux.h" VMLINUX_H="$kdir/vmlinux.h")
  log "building the sched_ext selftests of $stamp (log: $blog)"
  { echo "# ${mk[*]}"; "${mk[@]}"; } >"$blog" 2>&1 \
    || die 6 "build failure: make of tools/testing/selftests/sched_ext failed; see $blog"
  rm -f "$tmp/obj/runner"
  { echo "# relink static"; "${mk[@]}" LDFLAGS="-static -lelf -lz -lpthread -lzstd" "$tmp/obj/runner"; } >>"$blog" 2>&1 \
    || die 6 "build failure: static link of runner failed; see $blog"
  if readelf -lW "$tmp/obj/runner" | grep -q 'program interpreter' || readelf -dW "$tmp/obj/runner" | grep -q NEEDED; then
    die 6 "build failure: runner is not static; see $blog"
  fi
  strip -o "$tmp/runner" "$tmp/obj/runner"
  # -l only prints the registered names (runner.c): safe on any host.
  if ! "$tmp/runner" -l > "$tmp/tests.txt" 2>>"$blog" || ! [ -s "$tmp/tests.txt" ]; then
    die 6 "build failure: runner -l listed no tests; see $blog"
  fi
  {
    echo "# $stamp: sched_ext selftests asserting the enqueue/dequeue contract."
    echo "# First word: the test's name (runner -t NAME matches substrings, so"
    echo "# compare it with the name in the result line); then what it asserts."
    contract_tests | while read -r name what; do
      if grep -qxF "$name" "$tmp/tests.txt"; then printf '%-28s %s\n' "$name" "${what#(7.3) }"; fi
    done
  } > "$tmp/contract-tests.txt"
  grep -qx 'dequeue' "$tmp/tests.txt" || log "WARNING: $stamp has no 'dequeue' selftest"
  rm -rf "$tmp/obj"
  echo "$stamp" > "$tmp/source-version"
  echo "$sum" > "$tmp/script-sha256"
  rm -rf "$out"; mv "$tmp" "$out"
  log "selftests $s ready in $out: $(wc -l < "$out/tests.txt") tests, $(grep -vc '^#' "$out/contract-tests.txt") contract tests, runner $(du -h "$out/runner" | cut -f1), built in $((SECONDS - t0)) s"
  echo "$out"
}

[ "$(id -u)" -eq 0 ] || die 4 "must run as root (apt-get, $AQ_CACHE)"
mkdir -p "$AQ_CACHE/selftests" "$AQ_CACHE/src"
for s in "${series[@]}"; do build_series "$s"; done
