#!/usr/bin/env bash
# Idempotent set-up for aqcheck on Debian 12 (bookworm).
#
# 1. Installs the toolchain from bookworm and bookworm-backports ONLY (the host
#    has glibc 2.36; newer suites' libraries need a newer glibc).
# 2. Fetches sched_ext kernels (Debian -cloud-amd64 images from sid and
#    trixie-backports) through an apt state private to the project: its own
#    sources list, lists and cache dir under $AQ_CACHE.  Kernel debs are only
#    downloaded and unpacked, never installed.
# 3. Fetches linux-source-<series> of each kernel's exact Debian version the
#    same way and unpacks part of it into $AQ_CACHE/src/<series>/
#    (ci/kernel-source.sh): the build compiles mainline's scx_qmap from it.
#
# Usage: ci/setup.sh [--no-install] [--kernel SERIES]...   (default series: 7.2)
# Prints the resolved kernel directories; writes $AQ_CACHE/kernels/<series>/version.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
AQ_CACHE=${AQ_CACHE:-/var/cache/aqcheck}
install=1
series=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --kernel) series+=("$2"); shift ;;
    *) echo "setup: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#series[@]} -gt 0 ] || series=(7.2)

log() { echo "setup: $*" >&2; }
die() { local rc=$1; shift; echo "setup: $*" >&2; exit "$rc"; }

host_packages=(
  clang-19 llvm-19 lld-19 libclang-rt-19-dev libelf-dev zlib1g-dev
  stress-ng rt-tests busybox-static cpio zstd xz-utils
  cmake ninja-build pkg-config patch util-linux
  make gcc libc6-dev binutils python3   # the kernel source's libbpf (harness/sched/kernel-libbpf.sh), mainline's mutants
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libarchive-dev libzstd-dev
  libboost-context-dev   # ops/: the simulated CPUs' context switches (ops/README.md, "Speed")
  python3-pytest python3-yaml
)
# qemu from backports: bookworm's 7.2 runs multi-threaded TCG guests into
# int3 Oopses at live-patched jump labels (several per matrix run).
# (Its dependencies come from backports too, hence an install of its own.)
backports_packages=(libbpf-dev/bookworm-backports bpftool/bookworm-backports)

install_host_packages() {
  local src=/etc/apt/sources.list.d/aqcheck-bookworm-backports.list
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" > "$src"
  fi
  local missing=()
  for p in "${host_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  local backports_ok=1
  dpkg --compare-versions "$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo 0)" ge 1:1.4 || backports_ok=0
  command -v bpftool >/dev/null && bpftool version 2>/dev/null | grep -q 'bpftool v7' || backports_ok=0
  dpkg --compare-versions "$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || echo 0)" ge 1:10 || backports_ok=0
  if [ ${#missing[@]} -eq 0 ] && [ $backports_ok -eq 1 ]; then
    log "host packages present"
    return
  fi
  log "installing: ${missing[*]} ${backports_packages[*]} qemu-system-x86/bookworm-backports"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -t bookworm --no-install-recommends "${missing[@]}" "${backports_packages[@]}" >/dev/null
  apt-get install -y -qq -t bookworm-backports --no-install-recommends qemu-system-x86 >/dev/null
}

# --- offline workflow validator (ci/validate_workflows.mjs) -----------------
# GitHub's own workflow parser from the npm registry, pinned, in a private npm
# prefix.  It needs Node.js >= 20 (its engines field): the machine's nodejs
# (nodesource's, which bundles npm and conflicts with Debian's npm package).
# bookworm's own nodejs is 18, so none is installed here: without a node >= 20
# the validator is skipped with a line saying so (the gate's CI container has
# no node and needs none), and ci/tests/test_workflows.py skips or fails.
workflow_parser_version=0.3.61
install_workflow_parser() {
  local prefix=$AQ_CACHE/npm pkg=@actions/workflow-parser have
  have=$(node -p 'require(process.argv[1]).version' "$prefix/node_modules/$pkg/package.json" 2>/dev/null || true)
  if [ "$have" = "$workflow_parser_version" ]; then
    log "workflow parser present: $pkg@$have"
    return
  fi
  if ! command -v npm >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null; then
    log "workflow parser NOT installed: needs node >= 20 and npm (node: $(node --version 2>/dev/null || echo none))"
    return
  fi
  log "installing $pkg@$workflow_parser_version into $prefix"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --save-exact --no-audit --no-fund --no-update-notifier --loglevel=error \
    "$pkg@$workflow_parser_version" >/dev/null
}

# --- the charting library of the HTML reports (harness/report/html.hpp) -----
# Chart.js's UMD build from the npm registry, pinned, in the same private npm
# prefix; the build embeds dist/chart.umd.min.js into aqcheck (CMake reads the
# pin from the next line and fails without the file).  Any node's npm does:
# bookworm's own npm is installed only where the machine has no npm at all.
chartjs_version=4.6.2
install_chartjs() {
  local prefix=$AQ_CACHE/npm have
  have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$prefix/node_modules/chart.js/package.json" 2>/dev/null || true)
  if [ "$have" = "$chartjs_version" ]; then
    log "chart.js present: $have"
    return
  fi
  if ! command -v npm >/dev/null && [ $install -eq 1 ]; then
    log "installing npm (bookworm) to fetch chart.js"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm --no-install-recommends npm >/dev/null
  fi
  command -v npm >/dev/null || die 14 "chart.js NOT installed: no npm (run ci/setup.sh without --no-install)"
  log "installing chart.js@$chartjs_version into $prefix"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --save-exact --no-audit --no-fund --no-update-notifier --loglevel=error \
    "chart.js@$chartjs_version" >/dev/null
}

# --- private apt state for kernel packages (shared with ci/selftests.sh) ----
# shellcheck source=ci/private-apt.sh
. "$here/private-apt.sh"
# shellcheck source=ci/kernel-source.sh
. "$here/kernel-source.sh"

# Newest linux-image-<abi>-cloud-amd64 of a series whose linux-bpf-dev of the
# same Debian version is also available (vmlinux.h must match the kernel).
# Prints "<package> <debian-version>".
resolve_kernel() {
  local s=$1 pkg ver best=""
  local bpfvers; bpfvers=$(apt-cache "${apt_opts[@]}" madison linux-bpf-dev | awk -F'|' '{gsub(/ /,"",$2); print $2}')
  for pkg in $(apt-cache "${apt_opts[@]}" pkgnames "linux-image-$s." | grep -E "^linux-image-$s\.[0-9]+\+deb[0-9]+-cloud-amd64$"); do
    ver=$(apt-cache "${apt_opts[@]}" policy "$pkg" | awk '/Candidate:/ {print $2}')
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || continue
    grep -qxF "$ver" <<<"$bpfvers" || continue
    echo "$ver $pkg"
  done | sort -V | tail -1 | awk '{print $2, $1}'
}

fetch_kernel() {
  local s=$1 dir=$AQ_CACHE/kernels/$1
  if [ -s "$dir/vmlinuz" ] && [ -s "$dir/vmlinux.h" ] && [ -s "$dir/version" ]; then
    log "kernel $s present: $(cat "$dir/version")"
    echo "$dir"; return
  fi
  private_apt_init
  local pkg want kver
  read -r pkg want < <(resolve_kernel "$s")
  [ -n "${pkg:-}" ] || { echo "setup: no linux-image-$s.*-cloud-amd64 with a matching linux-bpf-dev in sid/trixie-backports" >&2; exit 3; }
  kver=${pkg#linux-image-}
  log "series $s -> $kver ($want)"
  local work; work=$(mktemp -d)
  chown _apt "$apt_root/archives" "$apt_root/archives/partial" 2>/dev/null || true
  ( cd "$apt_root/archives" && apt-get "${apt_opts[@]}" download -qq "linux-binary-$kver=$want" "linux-base-$kver=$want" "linux-bpf-dev=$want" >/dev/null ) \
    || { echo "setup: download of linux-binary-$kver=$want / linux-bpf-dev=$want failed" >&2; exit 3; }
  local img base bpfdev
  img=$(ls "$apt_root"/archives/linux-binary-"$kver"_*.deb | grep -F "_${want//:/%3a}_" | head -1)
  base=$(ls "$apt_root"/archives/linux-base-"$kver"_*.deb | grep -F "_${want//:/%3a}_" | head -1)
  bpfdev=$(ls "$apt_root"/archives/linux-bpf-dev_*.deb | grep -F "_${want//:/%3a}_" | head -1)
  [ -n "$img" ] && [ -n "$bpfdev" ] || { echo "setup: downloaded debs for $want not found" >&2; exit 3; }
  dpkg-deb -x "$img" "$work/img"
  dpkg-deb -x "$base" "$work/img"
  dpkg-deb -x "$bpfdev" "$work/bpf"
  mkdir -p "$dir.tmp"
  cp "$(find "$work/img" -name vmlinuz -o -name "vmlinuz-$kver" | head -1)" "$dir.tmp/vmlinuz"
  cp "$(find "$work/img" -name config -o -name "config-$kver" | head -1)" "$dir.tmp/config"
  local vh; vh=$(find "$work/bpf" -name vmlinux.h | head -1)
  [ -n "$vh" ] || { echo "setup: vmlinux.h not found in $bpfdev" >&2; exit 3; }
  cp "$vh" "$dir.tmp/vmlinux.h"
  # Modules the guest may need (virtio is built in on cloud kernels; keep the tree small).
  echo "$kver" > "$dir.tmp/release"
  echo "$kver ($want)" > "$dir.tmp/version"
  grep -q '^CONFIG_SCHED_CLASS_EXT=y' "$dir.tmp/config" || { echo "setup: $kver lacks CONFIG_SCHED_CLASS_EXT" >&2; exit 3; }
  rm -rf "$dir" "$work"; mv "$dir.tmp" "$dir"
  log "kernel $s ready in $dir: $(cat "$dir/version")"
  echo "$dir"
}

# timed WHAT COMMAND...: each step says how long it took, so a slow fetch
# shows in the log (README "How long it takes").
timed() {
  local what=$1 t
  shift
  t=$(date +%s)
  "$@"
  log "$what: $(( $(date +%s) - t )) s"
}

[ "$(id -u)" -eq 0 ] || { echo "setup: must run as root (apt-get)" >&2; exit 4; }
if [ $install -eq 1 ]; then
  timed "host packages" install_host_packages
  timed "workflow parser" install_workflow_parser
fi
timed "Chart.js" install_chartjs
for s in "${series[@]}"; do
  timed "kernel $s" fetch_kernel "$s"
  # The kernel source: mainline scx_qmap, its lists' twin, and the kernel's libbpf are built from it.
  timed "kernel source $s" fetch_kernel_source "$s" "$(sed -n 's/.*(\(.*\)).*/\1/p' "$AQ_CACHE/kernels/$s/version")"
done
