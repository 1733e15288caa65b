#!/usr/bin/env python3
"""Ops-level mutants of bpf/scx_aqmap.bpf.c: each one a bug in how the
callbacks use the lists under the kernel's custody protocol (the list code
itself is properties/mutants' business).  Each mutant is an exact text
replacement, asserted to match exactly once, so a change to the scheduler
that moves the text fails the build instead of silently testing nothing.

usage: mutate.py --list
       mutate.py <mutant> <scx_aqmap.bpf.c> <output>
"""
import sys

# name: (what the bug is, the text, its replacement)
MUTANTS = {
    'dequeue_skips_sched_change': (
        "ops.dequeue leaves a task on its FIFO when a property changed",
        "\tif (deq_flags & SCX_DEQ_SCHED_CHANGE)\n\t\ttaskc->keep_ready = 1;\n",
        "\tif (deq_flags & SCX_DEQ_SCHED_CHANGE)\n\t\treturn true;\n"),
    'dequeue_skips_custody_end': (
        "ops.dequeue removes nothing when custody ends at a local DSQ (deq_flags 0)",
        "\tif (deq_flags & SCX_DEQ_SCHED_CHANGE)\n\t\ttaskc->keep_ready = 1;\n",
        "\tif (!(deq_flags & SCX_DEQ_SCHED_CHANGE))\n\t\treturn true;\n\ttaskc->keep_ready = 1;\n"),
    'pre_custody_dequeue': (
        "ops.dequeue ignores the custody end 7.2 added (deq_flags 0), ledger and all",
        "static bool dequeue_ignores_custody_end(u64 deq_flags)\n{\n#ifdef AQMAP_PRE_CUSTODY_DEQUEUE\n"
        "\treturn !(deq_flags & SCX_DEQ_SCHED_CHANGE);\n#else\n\treturn false;\n#endif\n}\n",
        "static bool dequeue_ignores_custody_end(u64 deq_flags)\n{\n"
        "\treturn !(deq_flags & SCX_DEQ_SCHED_CHANGE);\n}\n"),
    'fallback_takes_no_custody': (
        "the lock-failure fallback inserts into the shared DSQ and does not record the custody",
        "\t\tenqueue_on_dsq(p, taskc, SHARED_DSQ, enq_flags);\n\t\treturn;\n\t}\n"
        "\tcustody_take(taskc, AQ_CUSTODY_FIFO);\n",
        "\t\tscx_bpf_dsq_insert(p, SHARED_DSQ, slice_ns, enq_flags);\n\t\tkick_task_cpu(p);\n\t\treturn;\n\t}\n"
        "\tcustody_take(taskc, AQ_CUSTODY_FIFO);\n"),
    'audit_custody_needs_no_dsq': (
        "the audit's custody predicate calls every entry of a task on a DSQ stale (before finding 1)",
        "\treturn !(dsq->id & SCX_DSQ_FLAG_BUILTIN) && (p->scx.flags & SCX_TASK_IN_CUSTODY) &&\n"
        "\t       ((u64)p->scx.ops_qseq << SCX_OPSS_QSEQ_SHIFT) == ops_qseq;\n",
        "\treturn false;\n"),
    'dequeue_pops_head': (
        "ops.dequeue unlinks its FIFO's head instead of the task",
        "\tret = fifo_remove(taskc);\n",
        "\t{\n\t\tint e;\n\t\tstruct qmap_fifo __arena *f = READ_ONCE(taskc->fifo);\n"
        "\t\tret = f && qmap_fifo_pop(f, &e) ? 0 : -ENOENT;\n\t}\n"),
    'dispatch_drops_disallowed': (
        "dispatch drops a popped task that may not run on this CPU",
        "\tscx_bpf_dsq_insert(p, SHARED_DSQ, slice_ns, 0);\n\tkick_if_not_allowed(p, cpu);\n",
        "\tif (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))\n\t\treturn true;\n"
        "\tscx_bpf_dsq_insert(p, SHARED_DSQ, slice_ns, 0);\n\tkick_if_not_allowed(p, cpu);\n"),
    'dispatch_local_ignores_affinity': (
        "dispatch inserts a popped task into this CPU's local DSQ, allowed there or not",
        "\tscx_bpf_dsq_insert(p, SHARED_DSQ, slice_ns, 0);\n\tkick_if_not_allowed(p, cpu);\n",
        "\tscx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);\n"),
    'enqueue_fallback_drops': (
        "the lock-failure fallback of enqueue inserts the task nowhere",
        "static bool fallback_drops_task(void)\n{\n#ifdef AQMAP_LOST_TASK\n\treturn true;\n#else\n\treturn false;\n#endif\n}\n",
        "static bool fallback_drops_task(void)\n{\n\treturn true;\n}\n"),
    'enqueue_links_and_jumps': (
        "a wakee that jumps the queue to its local DSQ is linked on its FIFO too",
        "\t\tscx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, wake_preempt_ns, enq_flags);\n\t\tkick_task_cpu(p);\n\t\treturn;\n",
        "\t\tscx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, wake_preempt_ns, enq_flags);\n"
        "\t\tfifo_push(idx, p, taskc, 0);\n\t\tkick_task_cpu(p);\n\t\treturn;\n"),
    'exit_task_leaks_context': (
        "exit_task never returns the task's context to the slab",
        "\tif (qmap_slab_free(&qa.task_free_head, taskc))\n",
        "\tif (0 && qmap_slab_free(&qa.task_free_head, taskc))\n"),
    'pop_empty_as_skipped': (
        "pop reports an empty FIFO as a skipped entry: dispatch spins on it",
        "\t\tif (err)\n\t\t\tstat_inc(nr_pop_lock_fail);\n\t\treturn POP_EMPTY;\n",
        "\t\tif (err)\n\t\t\tstat_inc(nr_pop_lock_fail);\n\t\treturn POP_SKIPPED;\n"),
    'dispatch_keeps_prev': (
        "dispatch does nothing while the previous task could run on: the kernel keeps it",
        "\tu32 batch = dsp_batch ?: 1;\n\tenum pop_result r;\n\tint i;\n\n",
        "\tu32 batch = dsp_batch ?: 1;\n\tenum pop_result r;\n\tint i;\n\n\tif (prev)\n\t\treturn;\n"),
    'enqueue_stamps_qseq_after_link': (
        "enqueue stamps the entry's qseq after linking it",
        "\ttaskc->ops_qseq = task_ops_qseq(p);\n\tseq = __sync_add_and_fetch(&qa.enq_seq, 1);\n\n"
        "\tif (fifo_push(idx, p, taskc, seq)) {\n",
        "\tseq = __sync_add_and_fetch(&qa.enq_seq, 1);\n\n"
        "\tif (fifo_push(idx, p, taskc, seq) || (taskc->ops_qseq = task_ops_qseq(p), 0)) {\n"),
}


def main():
    if sys.argv[1:] == ['--list']:
        print('\n'.join(MUTANTS))
        return 0
    if len(sys.argv) != 4 or sys.argv[1] not in MUTANTS:
        sys.stderr.write(__doc__)
        return 2
    name, src, dst = sys.argv[1:]
    desc, old, new = MUTANTS[name]
    text = open(src).read()
    n = text.count(old)
    if n != 1:
        sys.stderr.write(f'mutate.py: mutant {name} matches {n} times in {src} (want 1): update ops/mutants/mutate.py\n')
        return 1
    out = text.replace(old, new)
    out = f'/* ops-level mutant {name}: {desc} */\n' + out
    try:
        if open(dst).read() == out:
            return 0	# unchanged: no rebuild
    except FileNotFoundError:
        pass
    open(dst, 'w').write(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
