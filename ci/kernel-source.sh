# shellcheck shell=bash
# Debian's linux-source-<series> of exactly the kernel under test, unpacked
# (in part) into $AQ_CACHE/src/<series>/.  Sourced by ci/setup.sh (for
# mainline's tools/sched_ext/scx_qmap.bpf.c, which the build compiles: see
# bpf/upstream/) and ci/selftests.sh (the kernel's sched_ext selftests); not
# run on its own.  The package goes through the private apt state
# (ci/private-apt.sh): downloaded and unpacked, never installed, and its .deb
# (~165 MB) deleted once unpacked.
#
# Needs AQ_CACHE, the private apt state sourced, and a die function taking an
# exit code.  fetch_kernel_source SERIES DEBIAN-VERSION is idempotent: it
# unpacks again only when the version or the members below changed.
# $AQ_CACHE/src/<series>/.aqcheck-source holds "linux-source-<series>
# <debian-version> <hash of the members>"; reports quote its first two words.
# Exit code 5: the package is not found or unusable.

# What is unpacked from linux-source (paths under linux-source-<series>/).
# Measured with strace on a 7.2 build: the selftests' Makefile, lib.mk and
# kselftest headers; libbpf, bpftool (needs kernel/bpf/disasm.[ch]), the
# tools headers and build system; libbpf's bpf_helper_defs.h generator
# (scripts/bpf_doc.py over include/uapi/linux/bpf.h); tools/sched_ext's scx
# headers; the kernel's KTAP parser (tools/testing/kunit: ci/tests/test_ktap.py
# validates aqcheck's --ktap with it).  ~8 MB in all.  The last line is for
# reading only: the sched_ext
# core (kernel/sched/ext/ in 7.x), its documentation, and the top Makefile
# (the kernel version).
src_members=(
  tools/testing/selftests/sched_ext tools/testing/selftests/lib.mk 'tools/testing/selftests/kselftest*.h'
  tools/lib tools/bpf tools/include tools/build tools/scripts tools/arch/x86 tools/sched_ext
  tools/testing/kunit
  kernel/bpf/disasm.c kernel/bpf/disasm.h scripts/bpf_doc.py include/uapi/linux/bpf.h
  'kernel/sched/ext*' include/linux/sched/ext.h Documentation/scheduler/sched-ext.rst Makefile
)


fetch_kernel_source() {
  local s=$1 want=$2 src=$AQ_CACHE/src/$1
  local pkg=linux-source-$s
  local src_stamp; src_stamp="$pkg $want $(printf '%s\n' "${src_members[@]}" | sha256sum | cut -c1-16)"
  [ "$(cat "$src/.aqcheck-source" 2>/dev/null)" != "$src_stamp" ] || return 0
  private_apt_init
  local debname="${pkg}_${want//:/%3a}_all.deb"
  if ! [ -s "$apt_root/archives/$debname" ]; then
    apt-cache "${apt_opts[@]}" madison "$pkg" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$want" \
      || die 5 "package not found: $pkg=$want (the version of kernel $s) is not in sid/trixie-backports; has: $(apt-cache "${apt_opts[@]}" madison "$pkg" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | paste -sd' ')"
    log "downloading $pkg=$want"
    chown _apt "$apt_root/archives" "$apt_root/archives/partial" 2>/dev/null || true
    ( cd "$apt_root/archives" && apt-get "${apt_opts[@]}" download -qq "$pkg=$want" >/dev/null ) \
      || die 5 "package not found: download of $pkg=$want failed"
    [ -s "$apt_root/archives/$debname" ] || die 5 "package not found: $debname missing after download"
  fi
  log "unpacking $pkg=$want into $src"
  mkdir -p "$AQ_CACHE/src"
  rm -rf "$src.tmp"; mkdir -p "$src.tmp"
  local top=linux-source-$s members=() m
  for m in "${src_members[@]}"; do members+=("$top/$m"); done
  dpkg-deb --fsys-tarfile "$apt_root/archives/$debname" | nice -n 19 tar -xO "./usr/src/$top.tar.xz" \
    | nice -n 19 xz -dc | nice -n 19 tar -x -C "$src.tmp" --strip-components=1 --wildcards "${members[@]}" \
    || die 5 "package unusable: $debname lacks $top.tar.xz or one of: ${src_members[*]}"
  echo "$src_stamp" > "$src.tmp/.aqcheck-source"
  rm -rf "$src"; mv "$src.tmp" "$src"
  rm -f "$apt_root/archives/$debname"
  log "source $s: $(du -sh "$src" | cut -f1) in $src (the .deb is deleted)"
}

# fetch_kernel_source_full SERIES DEBIAN-VERSION DEST: the whole of
# linux-source-<series> (Debian's patches applied; ~1.5 GB unpacked) into
# DEST, for ci/build-kernel.sh.  Idempotent: DEST/.aqcheck-source holds
# "linux-source-<series> <debian-version> full" once complete.
fetch_kernel_source_full() {
  local s=$1 want=$2 dest=$3 pkg=linux-source-$1
  [ "$(cat "$dest/.aqcheck-source" 2>/dev/null)" != "$pkg $want full" ] || return 0
  private_apt_init
  local debname="${pkg}_${want//:/%3a}_all.deb"
  if ! [ -s "$apt_root/archives/$debname" ]; then
    log "downloading $pkg=$want (whole source)"
    chown _apt "$apt_root/archives" "$apt_root/archives/partial" 2>/dev/null || true
    ( cd "$apt_root/archives" && apt-get "${apt_opts[@]}" download -qq "$pkg=$want" >/dev/null ) \
      || die 5 "package not found: download of $pkg=$want failed"
  fi
  log "unpacking the whole of $pkg=$want into $dest"
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  dpkg-deb --fsys-tarfile "$apt_root/archives/$debname" | tar -xO "./usr/src/$pkg.tar.xz" \
    | xz -dc -T0 | tar -x -C "$dest.tmp" --strip-components=1 \
    || die 5 "package unusable: $debname lacks $pkg.tar.xz"
  echo "$pkg $want full" > "$dest.tmp/.aqcheck-source"
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  rm -f "$apt_root/archives/$debname"
}
