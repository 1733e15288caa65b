#!/usr/bin/env bash
# extract_qmap_list.py fails loudly: each damaged copy of scx_qmap.bpf.c must
# give exit 1, exactly one "error:" line, and no output header.
# usage: extract-selftest.sh <dir with scx_qmap.bpf.c and scx_qmap.h>
set -u
src=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
check() {	# name, sed expression applied to scx_qmap.bpf.c
	sed "$2" "$src/scx_qmap.bpf.c" >"$tmp/in.c"
	echo stale >"$tmp/out.h"
	python3 "$here/extract_qmap_list.py" "$tmp/in.c" "$src/scx_qmap.h" "$tmp/out.h" 2>"$tmp/err"
	local rc=$? lines
	lines=$(wc -l <"$tmp/err")
	if [[ $rc == 1 && $lines == 1 && ! -e $tmp/out.h ]] && grep -q ': error: ' "$tmp/err"; then
		printf '  %-22s ok: %s\n' "$1" "$(cat "$tmp/err")"
	else
		printf '  %-22s NOT LOUD (exit %s, %s stderr lines, output %s)\n' "$1" "$rc" "$lines" \
			"$([[ -e $tmp/out.h ]] && echo left || echo removed)"
		status=1
	fi
}
python3 "$here/extract_qmap_list.py" "$src/scx_qmap.bpf.c" "$src/scx_qmap.h" "$tmp/ok.h" ||
	{ echo "the undamaged source does not extract"; exit 1; }
check renamed-pop 's/qmap_fifo_pop(/qmap_fifo_pop_head(/g'
check remove-returns-int 's/^static void qmap_fifo_remove(/static int qmap_fifo_remove(/'
check enqueue-new-param 's/^static void qmap_fifo_enqueue(struct qmap_fifo __arena \*fifo, task_ctx_t \*taskc)/static void qmap_fifo_enqueue(struct qmap_fifo __arena *fifo, task_ctx_t *taskc, u64 f)/'
check no-slab-marker 's|/\* pop a slab entry off the free list \*/|/* slab */|'
check member-renamed 's/\*q_prev;/*q_back;/'
check no-typedef 's/^typedef struct task_ctx __arena task_ctx_t;//'
check exit-no-lock 's/qmap_spin_lock(&qa_task_lock)/qmap_try_lock(\&qa_task_lock)/g'
check no-slab-threading 's/bpf_for(i, 0, max_tasks)/bpf_for(i, 0, nr)/'
exit $status
