#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Extract mainline scx_qmap's FIFO list code into a header for the twin.

usage: extract_qmap_list.py <scx_qmap.bpf.c> <scx_qmap.h> <out.h>

Copies, verbatim and by name, from the kernel's tools/sched_ext sources:
  scx_qmap.h:      struct qmap_fifo (and the FIFO count of struct qmap_arena)
  scx_qmap.bpf.c:  struct task_ctx, the task_ctx_t typedef, qa_q_lock(),
                   qmap_spin_lock(), qmap_fifo_enqueue(), qmap_fifo_pop(),
                   qmap_fifo_remove(), and three statement blocks that it wraps
                   in generated static functions:
                     qmap_upstream_slab_alloc()  qmap_init_task()'s "pop a slab
                         entry off the free list" block and the link resets
                         that follow it;
                     qmap_upstream_slab_free()   qmap_exit_task()'s push back
                         under qa_task_lock;
                     qmap_upstream_slab_init()   qmap_init()'s threading of the
                         slab onto the free list.
Each copied piece is preceded by a #line directive, so compiler and sanitizer
reports name the upstream file and line.  Two hook macros are inserted before
the closing brace of the two structs (AQ_UPSTREAM_TASK_CTX_EXTRA,
AQ_UPSTREAM_FIFO_EXTRA): the adapter's bookkeeping fields.  Nothing else is
changed.

Nothing is written unless every piece is found with the expected shape
(signature, members, markers); otherwise one "error:" line on stderr, exit 1,
and any previous output is deleted so that the build fails instead of testing
a stale copy.  Python 3 standard library only.
"""
import hashlib
import os
import re
import sys

PROG = os.path.basename(sys.argv[0])


class ExtractError(Exception):
    pass


def die(msg):
    raise ExtractError(msg)


def norm(s):
    """Whitespace-normalised text (for comparing signatures)."""
    return re.sub(r"\s+", " ", s).replace("( ", "(").replace(" )", ")").strip()


def code_mask(text):
    """Copy of @text with comments, strings and char literals blanked (same
    length, newlines kept), so brace matching and searches see code only."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j += 1
        else:
            i += 1
            continue
        for k in range(i, min(j, n)):
            if out[k] != "\n":
                out[k] = " "
        i = j
    return "".join(out)


class Source:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            die(f"cannot read {path}: {e.strerror}")
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.text = raw.decode("utf-8", errors="replace")
        self.code = code_mask(self.text)

    def line_of(self, pos):
        return self.text.count("\n", 0, pos) + 1

    def match_brace(self, open_pos, what):
        """Position just after the '}' matching the '{' at @open_pos."""
        assert self.code[open_pos] == "{"
        depth = 0
        for i in range(open_pos, len(self.code)):
            if self.code[i] == "{":
                depth += 1
            elif self.code[i] == "}":
                depth -= 1
                if depth == 0:
                    return i + 1
        die(f"{self.path}: unbalanced braces in {what}")

    def line_start(self, pos):
        return self.text.rfind("\n", 0, pos) + 1

    def line_end(self, pos):
        """Position just after the newline ending the line containing @pos."""
        j = self.text.find("\n", pos)
        return len(self.text) if j < 0 else j + 1

    def leading_comment(self, start):
        """Start of a block comment ending on the line right above @start."""
        prev_end = start - 1
        if prev_end <= 0:
            return start
        prev_start = self.line_start(prev_end)
        if not self.text[prev_start:prev_end].rstrip().endswith("*/"):
            return start
        j = self.text.rfind("/*", 0, prev_end)
        if j < 0 or self.line_start(j) != j:
            return start
        return j

    def unique(self, regex, what):
        ms = list(re.finditer(regex, self.code, re.M))
        if not ms:
            die(f"{self.path}: {what} not found")
        if len(ms) > 1:
            die(f"{self.path}: {what} defined {len(ms)} times (lines "
                f"{', '.join(str(self.line_of(m.start())) for m in ms)})")
        return ms[0]

    def function(self, name, signature):
        """The definition of function @name, checked against @signature
        (everything before the body, whitespace-normalised)."""
        m = self.unique(r"^[A-Za-z_][^;{}()]*\b" + re.escape(name) +
                        r"\s*\([^;{}]*\)\s*\{", f"function {name}()")
        head = self.text[m.start():m.end() - 1]
        if norm(head) != norm(signature):
            die(f"{self.path}:{self.line_of(m.start())}: function {name}() changed "
                f"shape: '{norm(head)}', expected '{norm(signature)}'")
        end = self.match_brace(m.end() - 1, f"{name}()")
        return m.start(), end, m.end()  # start, end, body start (after '{')

    def struct(self, name, members):
        m = self.unique(r"^struct\s+" + re.escape(name) + r"\s*\{", f"struct {name}")
        end = self.match_brace(m.end() - 1, f"struct {name}")
        if not self.code.startswith(";", end):
            die(f"{self.path}:{self.line_of(m.start())}: struct {name} is not a plain definition")
        body = self.code[m.end():end - 1]
        for mem in members:
            if not re.search(r"\b" + re.escape(mem) + r"\s*;", body):
                die(f"{self.path}:{self.line_of(m.start())}: struct {name} has no member '{mem}'")
        return m.start(), end - 1, end + 1  # start, pos of '}', end (after ';')

    def find_in(self, lo, hi, needle, what):
        """First occurrence of code @needle (whitespace-insensitive) in [lo, hi)."""
        rx = r"\s*".join(re.escape(tok) for tok in needle.split())
        m = re.compile(rx).search(self.code, lo, hi)
        if not m:
            die(f"{self.path}: {what}: '{needle}' not found")
        return m

    def find_text_in(self, lo, hi, needle, what):
        i = self.text.find(needle, lo, hi)
        if i < 0:
            die(f"{self.path}: {what}: marker '{needle}' not found")
        return i


class Out:
    RESUME = object()	# "#line <this line> <the generated file>", resolved in text()

    def __init__(self):
        self.parts = []

    def piece(self, src, start, end):
        """Verbatim text [start, end) of @src, from the start of its line;
        what follows is attributed to the generated file again."""
        start = src.line_start(start)
        self.parts.append(f'#line {src.line_of(start)} "{src.path}"\n')
        self.parts.append(src.text[start:end].rstrip("\n") + "\n")
        self.parts.append(Out.RESUME)

    def raw(self, s):
        self.parts.append(s)

    def text(self, out_path):
        res, line = [], 1
        for p in self.parts:
            if p is Out.RESUME:
                p = f'#line {line + 1} "{os.path.abspath(out_path)}"\n'
            res.append(p)
            line += p.count("\n")
        return "".join(res)


def statement_end(src, pos, hi, what):
    """End (after newline) of the statement starting at @pos: a braced block
    for if/for/bpf_for with braces, else through the first ';' at depth 0."""
    depth = 0
    i = pos
    while i < hi:
        c = src.code[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0 and c == "{":
            return src.line_end(src.match_brace(i, what) - 1)
        elif depth == 0 and c == ";":
            return src.line_end(i)
        i += 1
    die(f"{src.path}: {what}: statement at line {src.line_of(pos)} does not end")


def extract(bpf_path, hdr_path):
    bpf = Source(bpf_path)
    hdr = Source(hdr_path)
    out = Out()

    # scx_qmap.h: struct qmap_fifo; the FIFO count from struct qmap_arena.
    s, close, e = hdr.struct("qmap_fifo", ["head", "tail", "idx"])
    fifo_struct = (s, close, e)
    a_s, a_close, _ = hdr.struct("qmap_arena", [])
    m = re.search(r"\bstruct\s+qmap_fifo\s+fifos\s*\[\s*(\d+)\s*\]\s*;", hdr.code[a_s:a_close])
    if not m:
        die(f"{hdr.path}: struct qmap_arena has no 'struct qmap_fifo fifos[N];'")
    nr_fifos = int(m.group(1))

    # scx_qmap.bpf.c.
    t_s, t_close, t_e = bpf.struct("task_ctx", ["next_free", "q_next", "q_prev", "fifo", "pid"])
    td = bpf.unique(r"^typedef\s+struct\s+task_ctx\s+__arena\s+task_ctx_t\s*;",
                    "typedef struct task_ctx __arena task_ctx_t")
    fns = {}
    for name, sig in [
        ("qa_q_lock", "static struct bpf_res_spin_lock *qa_q_lock(s32 qid)"),
        ("qmap_spin_lock", "static int qmap_spin_lock(struct bpf_res_spin_lock *lock)"),
        ("qmap_fifo_enqueue",
         "static void qmap_fifo_enqueue(struct qmap_fifo __arena *fifo, task_ctx_t *taskc)"),
        ("qmap_fifo_pop", "static task_ctx_t *qmap_fifo_pop(struct qmap_fifo __arena *fifo)"),
        ("qmap_fifo_remove", "static void qmap_fifo_remove(task_ctx_t *taskc)"),
    ]:
        fns[name] = bpf.function(name, sig)
    # The three callers whose slab code is wrapped (their signatures are the
    # BPF_STRUCT_OPS macros': only the name is checked).
    bodies = {}
    for name in ("qmap_init_task", "qmap_exit_task", "qmap_init"):
        m = bpf.unique(r"^\S[^;{}]*\(\s*" + re.escape(name) + r"\b[^;{}]*\)\s*\{",
                       f"struct_ops callback {name}")
        bodies[name] = (m.end(), bpf.match_brace(m.end() - 1, name) - 1)

    # qmap_init_task: marker comment .. end of "if (!taskc) {...}", then the
    # link resets (taskc->{next_free,q_next,q_prev,fifo} = NULL) that follow.
    lo, hi = bodies["qmap_init_task"]
    what = "qmap_init_task() slab pop"
    a_start = bpf.find_text_in(lo, hi, "/* pop a slab entry off the free list */", what)
    m = bpf.find_in(a_start, hi, "if ( ! taskc ) {", what)
    a_end = bpf.line_end(bpf.match_brace(m.end() - 1, what) - 1)
    block = bpf.code[a_start:a_end]
    for need in ("qmap_spin_lock ( & qa_task_lock )", "qa.task_free_head",
                 "bpf_res_spin_unlock ( & qa_task_lock )"):
        bpf.find_in(a_start, a_end, need, what)
    if re.search(r"\bp\b", block):
        die(f"{bpf.path}:{bpf.line_of(a_start)}: {what} now uses the task (p): changed shape")
    r_start = r_end = a_end
    pos = a_end
    while pos < hi:
        line = bpf.text[pos:bpf.line_end(pos)]
        if not line.strip() and r_start == a_end:
            pos = bpf.line_end(pos)
            r_start = r_end = pos
            continue
        if not re.fullmatch(r"\s*taskc->(next_free|q_next|q_prev|fifo)\s*=\s*NULL;\s*", line):
            break
        pos = bpf.line_end(pos)
        r_end = pos
    if r_end == r_start:
        die(f"{bpf.path}:{bpf.line_of(r_start)}: {what}: no taskc link resets after the pop")

    # qmap_exit_task: "if (qmap_spin_lock(&qa_task_lock))" .. the matching unlock.
    lo, hi = bodies["qmap_exit_task"]
    what = "qmap_exit_task() slab push"
    m = bpf.find_in(lo, hi, "if ( qmap_spin_lock ( & qa_task_lock ) )", what)
    f_start = bpf.line_start(m.start())
    u = bpf.find_in(m.end(), hi, "bpf_res_spin_unlock ( & qa_task_lock ) ;", what)
    f_end = bpf.line_end(u.end() - 1)
    bpf.find_in(f_start, f_end, "qa.task_free_head = taskc ;", what)

    # qmap_init: "bpf_for(i, 0, max_tasks) {...}" and the free-head store after it.
    lo, hi = bodies["qmap_init"]
    what = "qmap_init() slab threading"
    m = bpf.find_in(lo, hi, "bpf_for ( i , 0 , max_tasks ) {", what)
    i_start = bpf.line_start(m.start())
    i_mid = bpf.line_end(bpf.match_brace(m.end() - 1, what) - 1)
    h = bpf.find_in(i_mid, hi, "qa.task_free_head =", what)
    if bpf.code[i_mid:h.start()].strip():
        die(f"{bpf.path}:{bpf.line_of(i_mid)}: {what}: code between the loop and the free-head store")
    i_end = statement_end(bpf, h.start(), hi, what)

    # The header.
    me = os.path.relpath(os.path.abspath(sys.argv[0]),
                         os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    out.raw(f"""/* SPDX-License-Identifier: GPL-2.0 */
/*
 * GENERATED FILE -- do not edit; regenerated at build time by
 * {me}.
 *
 * Mainline sched_ext scx_qmap's FIFO list code, copied verbatim by name from
 *   {bpf.path}
 *     sha256 {bpf.sha256}
 *   {hdr.path}
 *     sha256 {hdr.sha256}
 * Each piece keeps its upstream line numbers (#line).  Additions: the hooks
 * AQ_UPSTREAM_TASK_CTX_EXTRA / AQ_UPSTREAM_FIFO_EXTRA before the closing
 * brace of the two structs, QMAP_UPSTREAM_NR_FIFOS (struct qmap_arena's
 * fifos[] size), and the three generated wrappers qmap_upstream_slab_alloc(),
 * qmap_upstream_slab_free() and qmap_upstream_slab_init() whose bodies are
 * upstream statement blocks.  Include through qmap_upstream_adapter.h only.
 */
#ifndef AQ_QMAP_UPSTREAM_LIST_H
#define AQ_QMAP_UPSTREAM_LIST_H

#define QMAP_UPSTREAM_NR_FIFOS {nr_fifos}

""")

    def struct_with_hook(src, start, close, end, hook):
        out.piece(src, start, src.line_start(close))
        out.raw(f"\t{hook}\n")
        out.piece(src, src.line_start(close), end)
        out.raw("\n")

    struct_with_hook(hdr, *fifo_struct, "AQ_UPSTREAM_FIFO_EXTRA")
    struct_with_hook(bpf, t_s, t_close, t_e, "AQ_UPSTREAM_TASK_CTX_EXTRA")
    out.piece(bpf, td.start(), bpf.line_end(td.end() - 1))
    out.raw("\n")
    for name in ("qa_q_lock", "qmap_spin_lock", "qmap_fifo_enqueue", "qmap_fifo_pop",
                 "qmap_fifo_remove"):
        start, end, _ = fns[name]
        out.piece(bpf, bpf.leading_comment(bpf.line_start(start)), end)
        out.raw("\n")

    out.raw("/* GENERATED wrapper: body from qmap_init_task(). 0, or its error return. */\n"
            "static s32 qmap_upstream_slab_alloc(task_ctx_t **taskcp)\n{\n"
            "\ttask_ctx_t *taskc;\n\n")
    out.piece(bpf, a_start, a_end)
    out.piece(bpf, r_start, r_end)
    out.raw('\t*taskcp = taskc;\n\treturn 0;\n}\n\n')

    out.raw("/* GENERATED wrapper: body from qmap_exit_task(). */\n"
            "static void qmap_upstream_slab_free(task_ctx_t *taskc)\n{\n")
    out.piece(bpf, f_start, f_end)
    out.raw("}\n\n")

    out.raw("/* GENERATED wrapper: body from qmap_init(). */\n"
            "static void qmap_upstream_slab_init(u8 __arena *slab, u32 max_tasks)\n{\n"
            "\tu32 i;\n\n")
    out.piece(bpf, i_start, i_end)
    out.raw("}\n\n#endif /* AQ_QMAP_UPSTREAM_LIST_H */\n")
    return out


def main(argv):
    if len(argv) != 4:
        print(f"usage: {PROG} <scx_qmap.bpf.c> <scx_qmap.h> <out.h>", file=sys.stderr)
        return 2
    out_path = argv[3]
    try:
        text = extract(argv[1], argv[2]).text(out_path)
    except ExtractError as e:
        try:
            os.unlink(out_path)
        except FileNotFoundError:
            pass
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
