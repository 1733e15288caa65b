#!/usr/bin/env python3
"""Make a mutant of mainline scx_qmap code (build tree only): of the
GENERATED list header for the twin, or of a copy of scx_qmap.bpf.c itself
for the kernel tier (bpf/CMakeLists.txt).

usage: mutate.py <name> <in> <out>

Each mutant replaces one statement inside one extracted function.  The edit
must match exactly once in that function, or this exits 1 with one error
line: a mutant that no longer applies is a failure, not a skipped test.
"""
import os
import re
import sys

# name: (function, old statement, replacement, what it breaks)
MUTANTS = {
    "pop_no_prev_fixup": ("qmap_fifo_pop", "taskc->q_next->q_prev = NULL;", ";",
                          "pop leaves the new head's q_prev pointing at the popped task"),
    "remove_no_recheck": ("qmap_fifo_remove", "if (taskc->fifo != fifo) {", "if (0) {",
                          "remove unlinks after a concurrent pop took the task"),
    "lock_error_silent": ("qmap_spin_lock", 'scx_bpf_error("res_spin_lock failed");', ";",
                          "a failed lock drops the operation without scx_bpf_error()"),
    "slab_free_drops": ("qmap_upstream_slab_free", "qa.task_free_head = taskc;", ";",
                        "exit_task's push back loses the context"),
    # Of scx_qmap.bpf.c itself, for the kernel tier.
    "dequeue_no_remove": ("qmap_dequeue", "qmap_fifo_remove(taskc);", ";",
                          "ops.dequeue leaves the task on its FIFO"),
    "exit_task_free_drops": ("qmap_exit_task", "qa.task_free_head = taskc;", ";",
                             "exit_task's push back loses the context"),
}


def main(argv):
    prog = os.path.basename(argv[0])
    if len(argv) != 4 or argv[1] not in MUTANTS:
        print(f"usage: {prog} <{'|'.join(MUTANTS)}> <in.h> <out.h>", file=sys.stderr)
        return 2
    fn, old, new, _ = MUTANTS[argv[1]]
    text = open(argv[2]).read()
    # A static function, or a callback defined through BPF_STRUCT_OPS(name, ...).
    m = re.search(r"^(?:static [^;{}]*\b" + re.escape(fn) + r"\s*\([^;{}]*\)|[\w ]*BPF_STRUCT_OPS(?:_SLEEPABLE)?\(\s*"
                  + re.escape(fn) + r"\b[^;{}]*\))\s*\{(.*?)^\}", text, re.M | re.S)
    if not m:
        print(f"{prog}: error: mutant {argv[1]}: function {fn} not in {argv[2]}", file=sys.stderr)
        return 1
    body = m.group(1)
    if body.count(old) != 1:
        print(f"{prog}: error: mutant {argv[1]}: '{old}' occurs {body.count(old)} times "
              f"in {fn}(), expected once", file=sys.stderr)
        return 1
    body = body.replace(old, new + f" /* MUTANT {argv[1]} */")
    text = text[:m.start(1)] + body + text[m.end(1):]
    with open(argv[3] + ".tmp", "w") as f:
        f.write(text)
    os.replace(argv[3] + ".tmp", argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
