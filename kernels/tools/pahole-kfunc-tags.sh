#!/bin/sh
# PAHOLE for a kernel build whose pahole is older than 1.26 (bookworm has
# 1.24): runs the real pahole with the same arguments, then, when it wrote
# detached BTF (scripts/gen-btf.sh: --btf_encode_detached=FILE), adds the
# "bpf_kfunc" decl tag to every kfunc in FILE, as pahole >= 1.26 would
# (btf_kfunc_tags.c says why the kernel needs it).  ci/build-kernel.sh passes
# it as `make PAHOLE=...` with:
#   AQ_REAL_PAHOLE     the real pahole
#   AQ_BTF_KFUNC_TAGS  the built btf_kfunc_tags
#   AQ_KFUNC_LIST      the kfuncs of the tree: every BTF_ID_FLAGS(func, NAME)
# `pahole --version` (Kconfig's PAHOLE_VERSION) passes through unchanged, so
# the kernel still takes the flags of the pahole it really has.
set -e
"${AQ_REAL_PAHOLE:-pahole}" "$@"
out=
for a in "$@"; do
  case "$a" in --btf_encode_detached=*) out=${a#--btf_encode_detached=} ;; esac
done
[ -n "$out" ] || exit 0
exec "$AQ_BTF_KFUNC_TAGS" "$out" "$AQ_KFUNC_LIST"
