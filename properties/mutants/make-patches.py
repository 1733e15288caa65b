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
def mut(name, desc, old, new, count=1):
    assert base.count(old) == count, (name, base.count(old))
    M[name] = (desc, base.replace(old, new))

mut('unlink_no_prev_fixup', "unlink forgets to fix the successor's q_prev",
'''	if (taskc->q_next) {
		taskc->q_next->q_prev = taskc->q_prev;
		qmap_arm_barrier();
	} else {''',
'''	if (taskc->q_next) {
		qmap_arm_barrier();
	} else {''')
mut('unlink_tail_not_cleared', "unlink never moves the tail back (stale tail after the last node goes)",
'''	} else {
		fifo->tail = taskc->q_prev;
		qmap_arm_barrier();
	}''',
'''	} else {
		qmap_arm_barrier();
	}''')
mut('remove_no_recheck', "remove trusts its unlocked peek: no membership re-check under the lock",
'''		fifo = taskc->fifo;
		if (!fifo || fifo->idx != idx) {
			bpf_res_spin_unlock(lock);
			return -ENOENT;
		}
''', '')
mut('enqueue_unlock_early', "enqueue releases the lock before linking",
'''	taskc->enq_seq = seq;
	qmap_fifo_link_tail(fifo, taskc);
	bpf_res_spin_unlock(lock);''',
'''	taskc->enq_seq = seq;
	bpf_res_spin_unlock(lock);
	qmap_fifo_link_tail(fifo, taskc);''')
mut('unlink_fifo_not_reset', "unlink leaves the context's fifo pointer set",
'''	taskc->q_prev = NULL;
	taskc->fifo = NULL;
	fifo->len--;''',
'''	taskc->q_prev = NULL;
	fifo->len--;''')
mut('enqueue_at_head', "enqueue links at the head (LIFO)",
'''	taskc->q_next = NULL;
	taskc->q_prev = fifo->tail;
	if (fifo->tail) {
		fifo->tail->q_next = taskc;
		qmap_arm_barrier();
	} else {
		fifo->head = taskc;
		qmap_arm_barrier();
	}
	fifo->tail = taskc;''',
'''	taskc->q_prev = NULL;
	taskc->q_next = fifo->head;
	if (fifo->head) {
		fifo->head->q_prev = taskc;
		qmap_arm_barrier();
	} else {
		fifo->tail = taskc;
		qmap_arm_barrier();
	}
	fifo->head = taskc;''')
mut('pop_no_counter', "pop does not count nr_popped",
'''		qmap_fifo_unlink(fifo, taskc);
		fifo->nr_popped++;''',
'''		qmap_fifo_unlink(fifo, taskc);''')
mut('unlink_len_kept', "unlink does not decrement len",
'''	taskc->fifo = NULL;
	fifo->len--;''',
'''	taskc->fifo = NULL;''')
mut('enqueue_error_swallowed', "enqueue reports success when its lock failed",
'''	ret = qmap_lock(lock);
	if (ret)
		return ret;
	taskc->enq_seq = seq;''',
'''	ret = qmap_lock(lock);
	if (ret)
		return 0;
	taskc->enq_seq = seq;''')
mut('pop_error_as_empty', "pop reports a failed lock as an empty FIFO",
'''	*err = qmap_lock(lock);
	if (*err)
		return NULL;''',
'''	*err = 0;
	if (qmap_lock(lock))
		return NULL;''')
mut('remove_no_retry', "remove gives up after the first failed acquisition",
'''		lock = qmap_fifo_lock(idx);
		ret = qmap_lock(lock);
		if (ret)
			continue;''',
'''		lock = qmap_fifo_lock(idx);
		ret = qmap_lock(lock);
		if (ret)
			break;''')
mut('remove_absent_ok', "remove of an unqueued task claims success",
'''		if (!fifo)
			return -ENOENT;''',
'''		if (!fifo)
			return 0;''')
mut('unlink_keeps_links', "unlink leaves q_next/q_prev of the unlinked context stale",
'''	taskc->q_next = NULL;
	taskc->q_prev = NULL;
	taskc->fifo = NULL;
	fifo->len--;''',
'''	taskc->fifo = NULL;
	fifo->len--;''')
mut('link_no_owner', "enqueue links the context without recording its FIFO",
'''	taskc->fifo = fifo;
	taskc->q_next = NULL;''',
'''	taskc->q_next = NULL;''')
mut('remove_failure_as_removed', "remove reports success after exhausting its retries",
'''		bpf_res_spin_unlock(lock);
		return 0;
	}
	return ret;
}

/*
 * Thread''',
'''		bpf_res_spin_unlock(lock);
		return 0;
	}
	return 0;
}

/*
 * Thread''')
mut('pop_empty_keeps_lock', "pop returns early on an empty FIFO without unlocking",
'''	taskc = fifo->head;
	if (taskc) {
		qmap_fifo_unlink(fifo, taskc);
		fifo->nr_popped++;
	}
	bpf_res_spin_unlock(lock);''',
'''	taskc = fifo->head;
	if (!taskc)
		return NULL;
	qmap_fifo_unlink(fifo, taskc);
	fifo->nr_popped++;
	bpf_res_spin_unlock(lock);''')
mut('pop_head_read_unlocked', "pop reads the head before taking the lock (TOCTOU)",
'''	*err = qmap_lock(lock);
	if (*err)
		return NULL;
	taskc = fifo->head;
	if (taskc) {''',
'''	taskc = fifo->head;
	*err = qmap_lock(lock);
	if (*err)
		return NULL;
	if (taskc) {''')
mut('slab_free_drops', "free does not push the context back on the free list",
'''		taskc->next_free = *head;
		*head = taskc;''',
'''		taskc->next_free = *head;''')
mut('pop_takes_tail', "pop unlinks the tail instead of the head",
'''	taskc = fifo->head;
	if (taskc) {''',
'''	taskc = fifo->tail;
	if (taskc) {''')

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
