#!/usr/bin/env python3
# Regenerates mutants/NN_<name>.patch from the definitions below, as unified
# diffs against the current bpf/aqmap_list.h.  Run it when the header changes
# so much that a patch no longer applies (the build says so); each mutant is
# an exact (old -> new) text replacement, asserted to match exactly once.
import pathlib
import subprocess
import tempfile

here = pathlib.Path(__file__).resolve().parent
base = (here.parent.parent / 'bpf' / 'aqmap_list.h').read_text()
out = here
M = {}


def mut(name, desc, old, new):
    assert base.count(old) == 1, (name, base.count(old))
    M[name] = (desc, base.replace(old, new))


mut('unlink_no_prev_fixup', "unlink forgets to fix the successor's q_prev",
    '\t\tnext->q_prev = taskc->q_prev;\n', '')
mut('unlink_tail_not_cleared', "unlink never moves the tail back (stale tail once the last node goes)",
    '\t\tfifo->tail = taskc->q_prev;\n', '')
mut('remove_no_recheck', "remove trusts its unlocked peek: no membership re-check under the lock",
    '\t\tfifo = (struct qmap_fifo *)taskc->fifo;\n'
    '\t\tif (!fifo || fifo->idx != idx) {\n'
    '\t\t\tbpf_res_spin_unlock(lock);\n'
    '\t\t\treturn -ENOENT;\n'
    '\t\t}\n', '')
mut('enqueue_unlock_early', "enqueue releases the lock before linking",
    '\tqmap_fifo_link_tail(fifo, taskc);\n\tbpf_res_spin_unlock(lock);\n',
    '\tbpf_res_spin_unlock(lock);\n\tqmap_fifo_link_tail(fifo, taskc);\n')
mut('unlink_fifo_not_reset', "unlink leaves the context's fifo pointer set",
    '\ttaskc->q_prev = NULL;\n\ttaskc->fifo = NULL;\n\tfifo->len--;\n',
    '\ttaskc->q_prev = NULL;\n\tfifo->len--;\n')
mut('enqueue_at_head', "enqueue links at the head (LIFO)",
    '\ttaskc->q_next = NULL;\n'
    '\ttaskc->q_prev = fifo->tail;\n'
    '\tif (tail) {\n'
    '\t\ttail->q_next = taskc_a;\n'
    '\t\tqmap_arm_barrier();\n'
    '\t} else {\n'
    '\t\tfifo->head = taskc_a;\n'
    '\t\tqmap_arm_barrier();\n'
    '\t}\n'
    '\tfifo->tail = taskc_a;\n',
    '\ttaskc->q_prev = NULL;\n'
    '\ttaskc->q_next = fifo->head;\n'
    '\tif (fifo->head) {\n'
    '\t\t((struct task_ctx *)fifo->head)->q_prev = taskc_a;\n'
    '\t\tqmap_arm_barrier();\n'
    '\t} else {\n'
    '\t\tfifo->tail = taskc_a;\n'
    '\t\tqmap_arm_barrier();\n'
    '\t}\n'
    '\tfifo->head = taskc_a;\n')
mut('pop_no_counter', "pop does not count nr_popped",
    '\t\tfifo->nr_popped++;\n', '')
mut('unlink_len_kept', "unlink does not decrement len",
    '\tfifo->len--;\n', '')
mut('enqueue_error_swallowed', "enqueue reports success when its lock failed",
    '\tif (ret)\n\t\treturn ret;\n', '\tif (ret)\n\t\treturn 0;\n')
mut('pop_error_as_empty', "pop reports a failed lock as an empty FIFO",
    '\t*err = qmap_lock(lock);\n\tif (*err)\n\t\treturn NULL;\n',
    '\t*err = 0;\n\tif (qmap_lock(lock))\n\t\treturn NULL;\n')
mut('remove_no_retry', "remove gives up after the first failed acquisition",
    '\t\tlock = qmap_fifo_lock(idx);\n\t\tret = qmap_lock(lock);\n\t\tif (ret)\n\t\t\tcontinue;\n',
    '\t\tlock = qmap_fifo_lock(idx);\n\t\tret = qmap_lock(lock);\n\t\tif (ret)\n\t\t\tbreak;\n')
mut('remove_absent_ok', "remove of an unqueued task claims success",
    '\t\tif (!fifo)\n\t\t\treturn -ENOENT;\n', '\t\tif (!fifo)\n\t\t\treturn 0;\n')
mut('unlink_keeps_links', "unlink leaves q_next/q_prev of the unlinked context stale",
    '\ttaskc->q_next = NULL;\n\ttaskc->q_prev = NULL;\n\ttaskc->fifo = NULL;\n\tfifo->len--;\n',
    '\ttaskc->fifo = NULL;\n\tfifo->len--;\n')
mut('link_no_owner', "enqueue links the context without recording its FIFO",
    '\ttaskc->fifo = fifo_a;\n', '')
mut('remove_failure_as_removed', "remove reports success after exhausting its retries",
    '\t\treturn 0;\n\t}\n\treturn ret;\n}\n\n/*\n * Thread',
    '\t\treturn 0;\n\t}\n\treturn 0;\n}\n\n/*\n * Thread')
mut('pop_empty_keeps_lock', "pop returns early on an empty FIFO without unlocking",
    '\tif (taskc) {\n\t\tqmap_fifo_unlink(fifo_a, taskc);\n\t\tfifo->nr_popped++;\n\t}\n',
    '\tif (!taskc)\n\t\treturn NULL;\n\tqmap_fifo_unlink(fifo_a, taskc);\n\tfifo->nr_popped++;\n')
mut('pop_head_read_unlocked', "pop reads the head before taking the lock (TOCTOU)",
    '\t*err = qmap_lock(lock);\n\tif (*err)\n\t\treturn NULL;\n\ttaskc = fifo->head;\n',
    '\ttaskc = fifo->head;\n\t*err = qmap_lock(lock);\n\tif (*err)\n\t\treturn NULL;\n')
mut('slab_free_drops', "free does not push the context back on the free list",
    '\t\t*head = taskc_a;\n', '')
mut('pop_takes_tail', "pop unlinks the tail instead of the head",
    '\ttaskc = fifo->head;\n\tif (taskc) {\n', '\ttaskc = fifo->tail;\n\tif (taskc) {\n')

with tempfile.TemporaryDirectory() as tmp:
    orig = pathlib.Path(tmp) / 'orig.h'
    orig.write_text(base)
    for old in out.glob('*.patch'):
        old.unlink()
    for i, (name, (desc, text)) in enumerate(M.items()):
        mutant = pathlib.Path(tmp) / 'mutant.h'
        mutant.write_text(text)
        diff = subprocess.run(['diff', '-u', '--label', 'a/bpf/aqmap_list.h',
                               '--label', 'b/bpf/aqmap_list.h', str(orig), str(mutant)],
                              capture_output=True, text=True).stdout
        fn = out / f'{i + 1:02d}_{name}.patch'
        fn.write_text(f'Mutant: {desc}\n\n' + diff)
        print(fn.name)
