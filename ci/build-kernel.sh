#!/usr/bin/env bash
# Builds a bootable sched_ext kernel for aqcheck's VM from source
# (docs/kernel-ci.md "Building a kernel").
#
# Source: Debian's linux-source-<series> of exactly the version ci/setup.sh
# fetched for that series (its whole tree, Debian's patches applied), or any
# kernel tree (--tree DIR, e.g. a maintainer's branch).  Either becomes a copy
# owned by the cache: the package is unpacked there, a tree is rsynced into
# it with mtimes kept (its .git and build outputs left out).  The kernel is
# built out of that copy into a build directory per profile, so that a
# known-bad patch (--regression, kernels/regressions/) is applied to the copy,
# built incrementally, and reversed, and a one-file change in
# kernel/sched/ext/ rebuilds build_policy.o and relinks, nothing more.
#
# Config: the profile's fragments (kernels/config/profiles) merged in order by
# the kernel's own scripts/kconfig/merge_config.sh; afterwards every value a
# fragment other than the architecture's defconfig asks for is checked in the
# final .config, and the first one missing fails the build with one line.
# (olddefconfig drops DEBUG_INFO_BTF without a word when pahole is missing or
# older than 1.22, and SCHED_CLASS_EXT with it.)
#
# Output: $AQ_CACHE/kbuild/<source-id>/out/<profile>-<inputs>[+<regression>]/
#   vmlinuz     the bzImage: `aqcheck vm --kernel DIR/vmlinuz`
#   vmlinux.h   `bpftool btf dump` of the built vmlinux (build aqcheck's BPF
#               objects against it: cmake -DAQ_VMLINUX_DIR=DIR)
#   config, release, build.log
#   version     "<release> (<source>, profile <p>, config <hash>[, regression <id>])",
#               which every aqcheck report quotes as the kernel's version
#   build.json  schema aqcheck-kernel-build/1: source, tree, build_dir, release,
#               profile, config hash, fragments, regressions, build seconds, image size
#   gcno/       (profile coverage) gcov's notes files, by path in the build
#               directory: ci/kernel_coverage.py reads a run's counters against them
# <inputs> hashes the source's identity, the fragments and the patches; a
# Debian source with the same inputs is a cache hit (--force rebuilds), a
# --tree is always rsynced and made again (make is a no-op when nothing moved).
# The output directory is the last line on stdout.
#
# Usage: ci/build-kernel.sh [--series S | --tree DIR] [--profile P]
#                           [--regression ID]... [--jobs N] [--force]
#   --series S       Debian's linux-source-S (default 7.2)
#   --tree DIR       any kernel tree instead
#   --profile P      default | debug | coverage (kernels/config/profiles)
#   --regression ID  apply kernels/regressions/ID*.patch (or a patch file) first
#   --config-only    merge and check the config (in a directory of its own), no build
#   --aqcheck        also build aqcheck against this kernel's BTF and its tree's
#                    tools/sched_ext (build/kernel/<source>-<profile>-<inputs>/),
#                    linked as DIR/aqcheck
# Exit codes: 0 built (or cached); 2 bad argument; 3 no kernel of that series
# fetched yet (run ci/setup.sh --kernel S); 4 the toolchain is missing and
# cannot be installed (not root); 5 linux-source package unusable;
# 6 build failed (the line names the log); 7 an option asked for is not in
# the final .config (the line names it); 8 a patch does not apply.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
AQ_CACHE=${AQ_CACHE:-/var/cache/aqcheck}
log() { echo "build-kernel: $*" >&2; }
die() { local rc=$1; shift; echo "build-kernel: $*" >&2; exit "$rc"; }

series=7.2 tree="" profile=default jobs=$(nproc) force=0 regressions=() config_only=0 with_aqcheck=0
while [ $# -gt 0 ]; do
  case "$1" in
    --series) [ $# -ge 2 ] || die 2 "--series needs a series, e.g. 7.2"; series=$2; shift ;;
    --tree) [ $# -ge 2 ] || die 2 "--tree needs a directory"; tree=$2; shift ;;
    --profile) [ $# -ge 2 ] || die 2 "--profile needs a name"; profile=$2; shift ;;
    --regression) [ $# -ge 2 ] || die 2 "--regression needs an id"; regressions+=("$2"); shift ;;
    --jobs) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die 2 "--jobs needs a positive number"; jobs=$2; shift ;;
    --force) force=1 ;;
    --config-only) config_only=1 ;;
    --aqcheck) with_aqcheck=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument: $1" ;;
  esac
  shift
done

# --- the profile: its fragments and patches, as kernels/config/profiles says
profiles=$repo/kernels/config/profiles
read -r -a spec < <(awk -v p="$profile" '$1 == p { $1 = ""; print }' "$profiles") || true
[ ${#spec[@]} -gt 0 ] || die 2 "unknown profile: $profile (have: $(awk '!/^#/ && NF {printf "%s ", $1}' "$profiles"))"

# --- the regressions' patch files
regression_files=() regression_ids=()
for r in "${regressions[@]}"; do
  if [ -f "$r" ]; then f=$r
  else
    mapfile -t hits < <(ls "$repo"/kernels/regressions/"$r"*.patch 2>/dev/null)
    [ ${#hits[@]} -eq 1 ] || die 2 "regression not found (or not unique): $r (kernels/regressions/$r*.patch)"
    f=${hits[0]}
  fi
  regression_files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
  regression_ids+=("$(basename "$f" .patch)")
done

# --- the toolchain, from bookworm: installed here, not by ci/setup.sh, which
# ci/verify.sh runs and which needs none of it (docs/setup.md)
toolchain=(gcc make flex bison bc libssl-dev libelf-dev dwarves rsync python3)
# A coverage kernel's counters are read with lcov (ci/kernel_coverage.py).
[ "$profile" = coverage ] && toolchain+=(lcov)
missing_pkgs=()
for p in "${toolchain[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing_pkgs+=("$p")
done
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die 4 "the kernel toolchain lacks ${missing_pkgs[*]}: apt-get install them (or run this as root)"
  log "installing the kernel toolchain from bookworm: ${missing_pkgs[*]}"
  # The package lists may be missing or stale where ci/setup.sh found every
  # host package present and so did not update them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm --no-install-recommends "${missing_pkgs[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm --no-install-recommends \
           "${missing_pkgs[@]}" >/dev/null; } \
    || die 4 "apt-get install ${missing_pkgs[*]} failed"
fi

# --- the source copy
if [ -n "$tree" ]; then
  [ -f "$tree/Makefile" ] && [ -d "$tree/kernel/sched" ] || die 2 "not a kernel tree: $tree"
  tree=$(cd "$tree" && pwd)
  source_id="tree-$(basename "$tree")-$(printf '%s' "$tree" | sha256sum | cut -c1-8)"
  describe=$(git -C "$tree" describe --always --dirty 2>/dev/null || echo "not a git tree")
  source_name="tree $tree ($describe)"
else
  vfile=$AQ_CACHE/kernels/$series/version
  [ -s "$vfile" ] || die 3 "no kernel of series $series fetched yet: run ci/setup.sh --kernel $series"
  debver=$(sed -n 's/.*(\(.*\)).*/\1/p' "$vfile")
  source_id="debian-$series-$debver"
  source_name="linux-source-$series $debver"
fi
root=$AQ_CACHE/kbuild/$source_id
src=$root/src
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9 || die 6 "cannot lock $root/.lock"

if [ -n "$tree" ]; then
  log "copying $tree into $src (rsync, mtimes kept)"
  mkdir -p "$src"
  rsync -a --delete --exclude=.git --filter=':- .gitignore' "$tree/" "$src/"
  [ ! -e "$src/.config" ] || die 2 "$tree has an in-tree build (.config): run make mrproper there, or point --tree at a clean tree"
  # What reports and mainline scx_qmap's build (bpf/CMakeLists.txt) quote.
  echo "tree $tree $describe" > "$src/.aqcheck-source"
else
  # shellcheck source=ci/private-apt.sh
  . "$here/private-apt.sh"
  # shellcheck source=ci/kernel-source.sh
  . "$here/kernel-source.sh"
  t=$(date +%s)
  fetch_kernel_source_full "$series" "$debver" "$src"
  [ $(( $(date +%s) - t )) -lt 2 ] || log "whole source fetched in $(( $(date +%s) - t )) s"
fi

# --- what the build depends on, hashed: the output directory's name
frag_files=() patch_files=() checked=()
for item in "${spec[@]}"; do
  case "$item" in
    kernel:*) f=$src/${item#kernel:}; [ -f "$f" ] || die 2 "profile $profile: $item is not in $source_name"
              frag_files+=("$f"); [[ $item == kernel:arch/*/configs/* ]] || checked+=("$f") ;;
    patch:*) f=$repo/kernels/config/${item#patch:}; [ -f "$f" ] || die 2 "profile $profile: $f missing"
             patch_files+=("$f") ;;
    *) f=$repo/kernels/config/$item; [ -f "$f" ] || die 2 "profile $profile: $f missing"
       frag_files+=("$f"); checked+=("$f") ;;
  esac
done
patch_files+=("${regression_files[@]}")
inputs=$( { echo "$source_name"; [ -z "$tree" ] || echo "$tree"; cat "${frag_files[@]}"; cat "${patch_files[@]}" /dev/null
            pahole --version 2>/dev/null; cat "$repo"/kernels/tools/*; } \
  | sha256sum | cut -c1-10)
name="$profile-$inputs"
[ ${#regression_ids[@]} -eq 0 ] || name+="+$(IFS=+; echo "${regression_ids[*]}")"
out=$root/out/$name
build=$root/build-$profile
[ $config_only -eq 0 ] || build=$root/config-only-$profile

# aqcheck built against the kernel in $out: its BPF objects against the
# kernel's own vmlinux.h, mainline scx_qmap from the tree's tools/sched_ext.
build_aqcheck() {
  [ $with_aqcheck -eq 1 ] || return 0
  local dir=$repo/build/kernel/$source_id-$name
  mkdir -p "$dir"
  log "aqcheck against $(cat "$out/version"): $dir"
  cmake --preset default -B "$dir" -DAQ_VMLINUX_DIR="$out" -DAQ_UPSTREAM_SRC="$src" -DAQ_BUILD_PROPERTIES=OFF \
    > "$dir/configure.log" 2>&1 || die 6 "aqcheck: configure failed: $dir/configure.log"
  cmake --build "$dir" --target aqcheck > "$dir/build.log" 2>&1 || die 6 "aqcheck: build failed: $dir/build.log"
  ln -sfn "$dir/harness/aqcheck" "$out/aqcheck"
}

if [ -z "$tree" ] && [ $force -eq 0 ] && [ $config_only -eq 0 ] && [ -s "$out/build.json" ] && [ -s "$out/vmlinuz" ]; then
  log "cached: $(cat "$out/version")"
  build_aqcheck
  echo "$out"
  exit 0
fi

# --- patches on the copy, reversed on the way out whatever happens
applied=()
unapply() {
  local i
  for (( i=${#applied[@]}-1; i>=0; i-- )); do
    patch -d "$src" -p1 -R --batch --fuzz=0 -s < "${applied[$i]}" >/dev/null \
      || log "WARNING: could not reverse ${applied[$i]} in $src: remove $root to start clean"
  done
  applied=()
}
trap unapply EXIT
for p in "${patch_files[@]}"; do
  if ! msg=$(patch -d "$src" -p1 --batch --fuzz=0 --dry-run < "$p" 2>&1); then
    die 8 "patch does not apply to $source_name: $p: $(echo "$msg" | grep -m1 -iE 'fail|reject|malformed|only garbage|not found' || echo "$msg" | head -1)"
  fi
  patch -d "$src" -p1 --batch --fuzz=0 -s < "$p" >/dev/null
  applied+=("$p")
done

# --- config
mkdir -p "$build"
pahole_version=$(pahole --version 2>/dev/null || echo none)
log "config: profile $profile, $(printf '%s ' "${frag_files[@]#"$repo"/}" | sed "s|$src/||g")(pahole $pahole_version)"
( cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -O "$build" "${frag_files[@]}" ) > "$build/merge_config.log" 2>&1 \
  || die 6 "merge_config.sh failed: $build/merge_config.log"

# Every value asked for, the last fragment's winning, against the final .config.
# A symbol no Kconfig of this architecture defines (kvm_guest.config's
# S390_GUEST on x86) is not a failure.
known=$build/.aqcheck-known-symbols
( cd "$src" && find . -path ./arch -prune -o -name 'Kconfig*' -print; find arch/x86 arch/Kconfig -name 'Kconfig*' ) \
  | (cd "$src" && xargs grep -hoE '^[[:space:]]*(menu)?config [A-Za-z0-9_]+') | awk '{print $2}' | sort -u > "$known"
missing=$(awk -v known="$known" '
  BEGIN { while ((getline s < known) > 0) k["CONFIG_" s] = 1 }
  FNR == 1 { nfile++ }
  nfile < ARGC - 1 {
    if (match($0, /^CONFIG_[A-Za-z0-9_]+=/)) { sym = substr($0, 1, RLENGTH - 1); want[sym] = substr($0, RLENGTH + 1); from[sym] = FILENAME }
    else if (match($0, /^# CONFIG_[A-Za-z0-9_]+ is not set/)) { split($0, w, " "); want[w[2]] = "n"; from[w[2]] = FILENAME }
    next
  }
  { if (match($0, /^CONFIG_[A-Za-z0-9_]+=/)) have[substr($0, 1, RLENGTH - 1)] = substr($0, RLENGTH + 1) }
  END {
    for (s in want) {
      if (!(s in k)) continue
      got = (s in have) ? have[s] : "n"
      if (got != want[s]) printf "%s=%s\t%s\t%s\n", s, want[s], from[s], got

    }
  }' "${checked[@]}" "$build/.config" | sort)
printf '%s\n' "$missing" > "$build/config-check.log"
if [ -n "$missing" ]; then
  IFS=$'\t' read -r asked from got <<<"$(grep -m1 -E '^CONFIG_(DEBUG_INFO_BTF|SCHED_CLASS_EXT)=' <<<"$missing" || head -1 <<<"$missing")"
  hint=""
  case "$asked" in
    CONFIG_DEBUG_INFO_BTF=*|CONFIG_SCHED_CLASS_EXT=*)
      hint="; DEBUG_INFO_BTF needs pahole >= 1.22 (found: $pahole_version; apt-get install dwarves) and SCHED_CLASS_EXT needs DEBUG_INFO_BTF" ;;
  esac
  from=${from#"$repo"/}; die 7 "$asked was asked for (${from#"$src"/}) but the final .config has ${got/#n/it unset}$hint$( [ "$(wc -l <<<"$missing")" -eq 1 ] || echo " (and $(( $(wc -l <<<"$missing") - 1 )) more: $build/config-check.log)")"
fi
config_hash=$(grep -v '^#' "$build/.config" | grep . | sha256sum | cut -c1-10)
if [ $config_only -eq 1 ]; then
  log "config $config_hash: every value asked for is set"
  echo "$build/.config"
  exit 0
fi

# --- pahole older than 1.26 writes no "bpf_kfunc" decl tags, and without
# them no sched_ext scheduler loads on the kernel (kernels/tools/btf_kfunc_tags.c
# says why); kernels/tools/pahole-kfunc-tags.sh adds them after pahole runs.
make_pahole=()
pahole_num=$(sed -n 's/^v\([0-9]*\)\.\([0-9]*\).*/\1\2/p' <<<"$pahole_version")
if [ -n "$pahole_num" ] && [ "$pahole_num" -lt 126 ]; then
  tools=$root/tools
  mkdir -p "$tools"
  if [ ! -x "$tools/btf_kfunc_tags" ] || [ "$repo/kernels/tools/btf_kfunc_tags.c" -nt "$tools/btf_kfunc_tags" ]; then
    cc -O2 -Wall -o "$tools/btf_kfunc_tags" "$repo/kernels/tools/btf_kfunc_tags.c" -lbpf \
      || die 6 "cannot build kernels/tools/btf_kfunc_tags.c (libbpf-dev from ci/setup.sh)"
  fi
  grep -rhoE --include='*.c' 'BTF_ID_FLAGS\(func, *[A-Za-z0-9_]+' "$src" | sed 's/.*, *//' | sort -u > "$build/kfuncs.txt"
  export AQ_REAL_PAHOLE AQ_BTF_KFUNC_TAGS=$tools/btf_kfunc_tags AQ_KFUNC_LIST=$build/kfuncs.txt
  AQ_REAL_PAHOLE=$(command -v pahole)
  make_pahole=(PAHOLE="$repo/kernels/tools/pahole-kfunc-tags.sh")
  log "pahole $pahole_version writes no kfunc decl tags: adding them for $(wc -l < "$build/kfuncs.txt") kfuncs (kernels/tools/pahole-kfunc-tags.sh)"
fi

# kbuild does not see a change of PAHOLE: relink when the BTF step changed.
btf_step="$pahole_version ${make_pahole[*]} $(cat "$repo"/kernels/tools/* | sha256sum | cut -c1-10)"
if [ "$(cat "$build/.aqcheck-btf-step" 2>/dev/null)" != "$btf_step" ]; then
  rm -f "$build/vmlinux" "$build/vmlinux.unstripped"
  echo "$btf_step" > "$build/.aqcheck-btf-step"
fi

# The release names the build, so every report (the guest's uname) does:
# 7.2.13-aq-<profile>-<inputs>[-r<regression numbers>].
localversion="-aq-$profile-$inputs"
for r in "${regression_ids[@]}"; do localversion+="-r${r%%-*}"; done

# --- build
kind=incremental
[ -s "$build/vmlinux.o" ] || kind=full
log "building ($kind, -j$jobs) in $build: log $build/build.log"
t=$(date +%s)
if ! make -C "$src" O="$build" ARCH=x86_64 -j"$jobs" KBUILD_BUILD_USER=aqcheck KBUILD_BUILD_HOST=aqcheck \
     LOCALVERSION="$localversion" "${make_pahole[@]}" bzImage > "$build/build.log" 2>&1; then
  grep -m5 -E 'error|Error' "$build/build.log" >&2 || tail -5 "$build/build.log" >&2
  die 6 "kernel build failed: $build/build.log"
fi
seconds=$(( $(date +%s) - t ))
unapply
trap - EXIT

# --- output
release=$(make -s -C "$src" O="$build" ARCH=x86_64 LOCALVERSION="$localversion" kernelrelease 2>/dev/null | tail -1)
mkdir -p "$out.tmp"
cp "$build/arch/x86/boot/bzImage" "$out.tmp/vmlinuz"
cp "$build/.config" "$out.tmp/config"
cp "$build/build.log" "$out.tmp/build.log"
bpftool btf dump file "$build/vmlinux" format c > "$out.tmp/vmlinux.h" \
  || die 6 "bpftool could not dump the BTF of $build/vmlinux"
grep -q 'struct sched_ext_ops {' "$out.tmp/vmlinux.h" \
  || die 7 "the built vmlinux's BTF has no struct sched_ext_ops (pahole $pahole_version)"
# Each sched_ext kfunc declared as BPF programs call it: without its hidden
# bpf_prog_aux argument (KF_IMPLICIT_ARGS, rewritten by resolve_btfids).
grep -q '^extern s32 scx_bpf_select_cpu_dfl(struct task_struct \*p, s32 prev_cpu, u64 wake_flags, bool \*is_idle) __weak __ksym;' \
  "$out.tmp/vmlinux.h" || die 7 "the built vmlinux's BTF does not declare scx_bpf_select_cpu_dfl() as BPF programs call it (no kfunc decl tags? pahole $pahole_version)"
echo "$release" > "$out.tmp/release"
version="$release ($source_name, profile $profile, config $config_hash"
[ ${#regression_ids[@]} -eq 0 ] || version+=", regression $(IFS=+; echo "${regression_ids[*]}")"
echo "$version)" > "$out.tmp/version"
image_bytes=$(stat -c %s "$out.tmp/vmlinuz")
# gcov's notes files (.gcno, written at compile time) go with the image they
# describe: a later build in the same build directory rewrites them, and the
# counters (.gcda) of this image only read against these
# (ci/kernel_coverage.py; Documentation/dev-tools/gcov.rst).
if [ "$profile" = coverage ]; then
  (cd "$build" && find . -name '*.gcno' -print0 | rsync -a --from0 --files-from=- ./ "$out.tmp/gcno/") \
    || die 6 "copying the .gcno files of $build"
fi
python3 - "$out.tmp/build.json" <<PY
import json, sys
json.dump({
  "schema": "aqcheck-kernel-build/1",
  "source": "$source_name", "tree": "$src", "build_dir": "$build", "release": "$release", "version": "$version)",
  "profile": "$profile", "config_hash": "$config_hash", "inputs_hash": "$inputs",
  "fragments": [l for l in """$(printf '%s\n' "${frag_files[@]}")""".splitlines() if l],
  "patches": [l for l in """$(printf '%s\n' "${patch_files[@]}")""".splitlines() if l],
  "regressions": [l for l in """$(printf '%s\n' "${regression_ids[@]}")""".splitlines() if l],
  "build": "$kind", "build_seconds": $seconds, "jobs": $jobs, "image_bytes": $image_bytes,
  "pahole": "$pahole_version",
}, open(sys.argv[1], "w"), indent=2)
PY
rm -rf "$out"; mv "$out.tmp" "$out"
log "built $version): $kind build in $seconds s, image $(( image_bytes / 1024 )) KiB"
build_aqcheck
echo "$out"
