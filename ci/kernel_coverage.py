#!/usr/bin/env python3
"""How much of the sched_ext core a run reached: line and function coverage
of kernel/sched/ext/ext.c and idle.c, read with lcov from the gcov counters
that `aqcheck run --kernel-coverage DIR` copied out of a coverage kernel.

    ci/kernel_coverage.py --kernel OUT [--out DIR] LABEL=GCDA...

OUT is the kernel's output directory from `ci/build-kernel.sh --profile
coverage` (build.json, and gcno/: the notes files of exactly that image).
Each LABEL=GCDA is one row of the table: GCDA is a directory that
--kernel-coverage wrote (one subdirectory per case: each case becomes a row
LABEL/<case> as well) or one case's directory.  A label may be given more
than once; its rows are added up.  The last row, "all", adds up every label.

Writes DIR (default out/kernel-coverage): coverage.json (schema
aqcheck-kernel-coverage/1), coverage.md, each row's lcov tracefile
(<row>.info), and html/index.html, genhtml's report of "all".

gcov.rst's "gcov is run on the BUILD machine": each .gcda goes next to its
.gcno under a work directory, and lcov (with gcov) reads them; lcov, not this
script, decides what a line or a function is.  This script only counts
lcov's tracefile records (DA, FN, FNDA) as lcov counts its LF/LH and FNF/FNH.

Exit codes: 0 written; 2 bad arguments; 10 lcov or genhtml failed; 12 no
counters, or not a coverage kernel; 14 lcov or genhtml missing
(ci/build-kernel.sh --profile coverage installs lcov).
"""
import argparse
import collections
import json
import os
import pathlib
import shutil
import subprocess
import sys

CORE = ("kernel/sched/ext/ext.c", "kernel/sched/ext/idle.c")


def die(code, msg):
    print(f"kernel-coverage: error: {msg}", file=sys.stderr)
    sys.exit(code)


def tool(args):
    """Runs lcov or genhtml; their chatter (lcov 1.16's geninfo redefines
    subroutines, loudly) is shown only when they fail."""
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode:
        die(10, f"{args[0]} exited {p.returncode}: {(p.stderr or p.stdout).strip()[-2000:]}")


def case_dirs(gcda, build):
    """(case, directory) of every case under GCDA, or GCDA itself as one: a
    case's directory holds the gcov tree, the build directory's path below it."""
    gcda = pathlib.Path(gcda)
    if not gcda.is_dir():
        die(2, f"{gcda}: not a directory")
    inner = build.strip("/")
    if (gcda / inner).is_dir():
        return [(gcda.name, gcda)]
    return [(d.name, d) for d in sorted(gcda.iterdir()) if (d / inner).is_dir()]


def capture(case_dir, build, kernel, work, info):
    """lcov's tracefile of one case's counters, read against KERNEL/gcno."""
    shutil.rmtree(work, ignore_errors=True)
    n = 0
    for gcda in case_dir.rglob("*.gcda"):
        # Below the gcov directory a counter file sits at its object's
        # absolute path in the build directory.
        absolute = "/" + str(gcda.relative_to(case_dir))
        if not absolute.startswith(build.rstrip("/") + "/"):
            continue  # another build's object (a module built elsewhere)
        inner = os.path.relpath(absolute, build)
        gcno = kernel / "gcno" / pathlib.Path(inner).with_suffix(".gcno")
        if not gcno.is_file():
            die(12, f"{gcda}: no {gcno}: were these counters written by this kernel (--kernel)?")
        (work / inner).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gcda, work / inner)
        shutil.copyfile(gcno, (work / inner).with_suffix(".gcno"))
        n += 1
    if not n:
        die(12, f"{case_dir}: no gcov counters of {build}")
    tool(["lcov", "--quiet", "--capture", "--directory", str(work), "--base-directory", build,
          "--gcov-tool", "gcov", "--rc", "lcov_branch_coverage=0", "--output-file", str(info)])


def add(infos, out):
    args = ["lcov", "--quiet", "--rc", "lcov_branch_coverage=0", "--output-file", str(out)]
    for i in infos:
        args += ["--add-tracefile", str(i)]
    tool(args)


def read_tracefile(info, tree):
    """{core file: {"lines": [found, hit], "functions": [found, hit], "unreached": [(name, start, lines)]}},
    counted from the tracefile's own records (DA, FN, FNDA), as lcov counts LF/LH and FNF/FNH: a raw capture
    carries no summary lines, and a line or function may have several records."""
    files, sf = {}, None
    das, fns, hits = {}, {}, {}

    def close():
        starts = sorted(fns.values())
        unreached = []
        for name, start in fns.items():
            if not hits.get(name, 0):
                later = [x for x in starts if x > start]
                unreached.append((name, start, (later[0] - start) if later else 0))
        files[sf] = {"lines": [len(das), sum(1 for c in das.values() if c)],
                     "functions": [len(fns), sum(1 for n in fns if hits.get(n, 0))],
                     "unreached": sorted(unreached, key=lambda u: -u[2])}

    for line in pathlib.Path(info).read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "SF":
            sf = os.path.relpath(os.path.realpath(value), os.path.realpath(tree))
            das, fns, hits = {}, {}, {}
        elif sf not in CORE:
            continue
        elif key == "DA":
            number, count = value.split(",")[:2]
            das[int(number)] = das.get(int(number), 0) + int(count)
        elif key == "FN":
            start, name = value.split(",", 1)
            fns[name] = int(start)
        elif key == "FNDA":
            count, name = value.split(",", 1)
            hits[name] = hits.get(name, 0) + int(count)
        elif key == "end_of_record":
            close()
            sf = None
    return files


def pct(found, hit):
    return 100.0 * hit / found if found else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", required=True, help="the coverage kernel's output directory (build.json, gcno/)")
    ap.add_argument("--out", default="out/kernel-coverage")
    ap.add_argument("sets", nargs="+", metavar="LABEL=GCDA")
    a = ap.parse_args()
    for s in a.sets:
        label, eq, _ = s.partition("=")
        if not eq or not label or "/" in label:
            die(2, f"{s}: give LABEL=DIR (a label without '/')")
    kernel = pathlib.Path(a.kernel)
    try:
        build_json = json.loads((kernel / "build.json").read_text())
    except (OSError, ValueError) as e:
        die(12, f"{kernel}: no readable build.json ({e})")
    if build_json.get("profile") != "coverage" or not (kernel / "gcno").is_dir():
        die(12, f"{kernel}: not a coverage kernel (profile {build_json.get('profile')}): "
                "ci/build-kernel.sh --profile coverage")
    for program in ("lcov", "genhtml", "gcov"):
        if not shutil.which(program):
            die(14, f"{program} is not installed (ci/build-kernel.sh --profile coverage installs lcov; "
                    "or apt-get install lcov)")
    build, tree = build_json["build_dir"], build_json["tree"]
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    rows = collections.OrderedDict()  # row -> [tracefiles]
    for s in a.sets:
        label, _, gcda = s.partition("=")
        for case, d in case_dirs(gcda, build):
            info = out / f"{label}.{case}.info"
            capture(d, build, kernel, out / "work" / label / case, info)
            rows.setdefault(label, []).append(info)
            if case != pathlib.Path(gcda).name:
                rows[f"{label}/{case}"] = [info]
    shutil.rmtree(out / "work", ignore_errors=True)
    every = [i for label, infos in rows.items() if "/" not in label for i in infos]
    rows["all"] = every

    table = collections.OrderedDict()
    for row, infos in rows.items():
        info = out / f"{row.replace('/', '.')}.info" if len(infos) > 1 or row == "all" else infos[0]
        if info != infos[0]:
            add(infos, info)
        table[row] = {"tracefile": str(info), "files": read_tracefile(info, tree)}
    tool(["genhtml", "--quiet", "--rc", "lcov_branch_coverage=0", "--prefix", tree,
                    "--title", f"sched_ext core: {build_json.get('version', '')}", "--output-directory",
          str(out / "html"), str(table["all"]["tracefile"])])

    report = {"schema": "aqcheck-kernel-coverage/1", "kernel": build_json.get("version"), "tree": tree,
              "html": str(out / "html" / "index.html"),
              "rows": [{"row": row, "tracefile": t["tracefile"],
                        "files": {f: {"lines_found": v["lines"][0], "lines_hit": v["lines"][1],
                                      "functions_found": v["functions"][0], "functions_hit": v["functions"][1]}
                                  for f, v in t["files"].items()}}
                       for row, t in table.items()]}
    allf = table["all"]["files"]
    report["unreached"] = {f: [{"function": n, "line": s, "lines": l} for n, s, l in v.get("unreached", [])[:15]]
                           for f, v in allf.items()}
    (out / "coverage.json").write_text(json.dumps(report, indent=2) + "\n")

    md = [f"# sched_ext core coverage: {build_json.get('version')}", "",
          "| run | ext.c lines | ext.c functions | idle.c lines | idle.c functions |", "|---|---:|---:|---:|---:|"]
    for row, t in table.items():
        cells = []
        for f in CORE:
            v = t["files"].get(f, {"lines": [0, 0], "functions": [0, 0]})
            cells += [f"{pct(*v['lines']):.1f}% ({v['lines'][1]}/{v['lines'][0]})",
                      f"{pct(*v['functions']):.1f}% ({v['functions'][1]}/{v['functions'][0]})"]
        md.append(f"| {row} | " + " | ".join(cells) + " |")
    md += ["", "Largest functions nothing reached (lines from their start to the next function's):", ""]
    for f, items in report["unreached"].items():
        md.append(f"- `{f}`: " + ", ".join(f"`{u['function']}` ({u['lines']})" for u in items[:10]))
    md += ["", f"HTML: {report['html']}"]
    (out / "coverage.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
