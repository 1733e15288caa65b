#!/usr/bin/env python3
"""The known-bad kernels of kernels/regressions/: one patch each against the
sched_ext core, with a header that says what it breaks and what aqcheck must
report (kernels/regressions/README.md describes the format).

load(dir) parses and validates every NN-name.patch there and returns one dict
per patch, in file order: the header's keys, plus "id" (the file's stem),
"path" and "diff" (everything after the "---" line).  A malformed header
raises FormatError naming the file and line.

As a script it prints one line per regression, tab-separated, for shell
scripts:

usage: kernel_regressions.py [--fields id,origin,scenario,expect] [--only ID]... [DIR]
       kernel_regressions.py summarize OUT

DIR defaults to kernels/regressions beside this script's ci/.  The default
fields are id, origin, scenario and expect; any header key (lower case, e.g.
scheduler, catch, fix) or id/path may be asked for, and "run": the scenario
with --scheduler added when the Scheduler key is not aqmap.  --only keeps the
regressions whose id starts with ID.  An optional key that a patch leaves out
prints its default.  Exit 1 on a malformed patch.

`summarize OUT` judges the runs ci/kernel-regressions.sh left in OUT and
writes OUT/matrix.json (schema aqcheck-kernel-regressions/1) and
OUT/matrix.md; exit 0 when every control passed and every regression was
caught, every run, by the check its header expects.
"""
import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "kernels" / "regressions"

REQUIRED = ("Title", "Origin", "Fix", "Symptom", "Scenario", "Expect", "Check")
OPTIONAL = {"Scheduler": "aqmap", "Catch": "strong", "Note": ""}
ORIGINS = ("revert", "seeded")
SCHEDULERS = ("aqmap", "qmap-upstream")
# strong: the scenario drives the path in every run and the check fires at its
# first occurrence; racy: it needs a race or a timing the scenario makes likely,
# not certain; weak: only the kernel's own watchdog or log is expected to show
# it; gap: aqcheck is not expected to catch it as it stands (the Note says what
# would).
CATCHES = ("strong", "racy", "weak", "gap")
# The failure reasons `aqcheck run` prints start with one of these (the
# classifier's table in harness/fuzz/shrink.hpp, kFailureClasses, and the
# wait audit's "lost task"/"stuck task"); the test checks the list against it.
REASON_PREFIXES = (
    "corrupted list", "conservation mismatch", "audit failed", "audit could not take", "dequeue did not remove",
    "scheduler ejected", "sched_ext state changed", "scheduler stall", "stuck task", "lost task",
    "custody protocol violated", "slab not whole", "kernel log:", "fault injection:", "stress-ng", "no coverage",
)
NAME = re.compile(r"^(\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*\.patch$")
HEADER_LINE = re.compile(r"^([A-Z][A-Za-z]*):(?:[ \t]+(.*?))?\s*$")
# What the patches may touch: the sched_ext core, as ci/kernel-source.sh
# unpacks it into $AQ_CACHE/src/<series>/.
TOUCHABLE = re.compile(r"^(kernel/sched/ext/[\w.-]+\.[ch]|include/linux/sched/ext\.h)$")


class FormatError(Exception):
    pass


def parse(path):
    """One patch file's header and diff, validated."""
    path = pathlib.Path(path)
    m = NAME.match(path.name)
    if not m:
        raise FormatError(f"{path}: the name must be NN-short-name.patch (lower case, digits and '-')")
    lines = path.read_text().splitlines(keepends=True)
    header = {}
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\n")
        if text == "---":
            diff = "".join(lines[number:])
            break
        hm = HEADER_LINE.match(text)
        if not hm:
            raise FormatError(f"{path}:{number}: not a 'Key: value' line (the header ends at a line '---'): {text!r}")
        key, value = hm.group(1), hm.group(2) or ""
        if not value:
            raise FormatError(f"{path}:{number}: {key} is empty")
        if key not in REQUIRED and key not in OPTIONAL:
            raise FormatError(f"{path}:{number}: unknown key {key!r} (keys: {', '.join((*REQUIRED, *OPTIONAL))})")
        if key in header:
            raise FormatError(f"{path}:{number}: {key} given twice")
        header[key] = value
    else:
        raise FormatError(f"{path}: no '---' line ends the header")

    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise FormatError(f"{path}: missing key(s): {', '.join(missing)}")
    for key, default in OPTIONAL.items():
        header.setdefault(key, default)
    if header["Origin"] not in ORIGINS:
        raise FormatError(f"{path}: Origin must be one of {', '.join(ORIGINS)}, not {header['Origin']!r}")
    if header["Origin"] == "revert" and not header["Fix"].startswith("sched_ext: "):
        raise FormatError(f"{path}: a revert's Fix is the upstream fix's subject, 'sched_ext: ...'")
    if header["Origin"] == "seeded" and header["Fix"] != "none":
        raise FormatError(f"{path}: a seeded regression's Fix is 'none'")
    scenario = header["Scenario"]
    if not (scenario.startswith("run ") or scenario.startswith("fuzz ")):
        raise FormatError(f"{path}: Scenario must be `run ...` or `fuzz ...` (aqcheck's guest arguments)")
    if "--scheduler" in scenario.split():
        raise FormatError(f"{path}: Scenario must not give --scheduler: the Scheduler key does")
    if header["Scheduler"] not in SCHEDULERS:
        raise FormatError(f"{path}: Scheduler must be one of {', '.join(SCHEDULERS)}")
    if header["Catch"] not in CATCHES:
        raise FormatError(f"{path}: Catch must be one of {', '.join(CATCHES)}")
    if not any(header["Expect"].startswith(p) for p in REASON_PREFIXES):
        raise FormatError(f"{path}: Expect {header['Expect']!r} starts with none of aqcheck's failure reasons")

    targets = re.findall(r"^\+\+\+ b/(\S+)", diff, re.M)
    if not targets or not re.search(r"^--- a/", diff, re.M):
        raise FormatError(f"{path}: no unified diff (--- a/..., +++ b/...) after the header")
    for t in targets:
        if not TOUCHABLE.match(t):
            raise FormatError(f"{path}: patches {t}, outside the sched_ext core (kernel/sched/ext/, "
                              "include/linux/sched/ext.h)")

    entry = {k.lower(): v for k, v in header.items()}
    entry.update(id=path.stem, number=m.group(1), path=str(path), diff=diff, files=targets)
    return entry


def load(directory=DEFAULT_DIR):
    """Every regression in @directory, parsed and validated, in name order."""
    directory = pathlib.Path(directory)
    entries = [parse(p) for p in sorted(directory.glob("*.patch"))]
    seen = {}
    for e in entries:
        if e["number"] in seen:
            raise FormatError(f"{e['path']}: number {e['number']} already used by {seen[e['number']]}")
        seen[e["number"]] = e["id"]
    return entries


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["summarize"]:
        if len(argv) != 2:
            print("kernel_regressions: usage: kernel_regressions.py summarize OUT", file=sys.stderr)
            return 2
        return summarize(argv[1])
    ap = argparse.ArgumentParser(description="List kernels/regressions/*.patch as TSV.")
    ap.add_argument("--fields", default="id,origin,scenario,expect",
                    help="comma-separated: id, path, run, or a header key in lower case")
    ap.add_argument("--only", action="append", default=[], help="ids starting with this (repeatable)")
    ap.add_argument("dir", nargs="?", default=str(DEFAULT_DIR))
    args = ap.parse_args(argv)
    try:
        entries = load(args.dir)
    except FormatError as e:
        print(f"kernel_regressions: {e}", file=sys.stderr)
        return 1
    if args.only:
        entries = [e for e in entries if any(e["id"].startswith(o) for o in args.only)]
    for e in entries:
        e["run"] = e["scenario"] + ("" if e["scheduler"] == "aqmap" else f" --scheduler {e['scheduler']}")
    fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    known = {"id", "path", "run", *(k.lower() for k in (*REQUIRED, *OPTIONAL))}
    bad = [f for f in fields if f not in known]
    if bad:
        ap.error(f"unknown field(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    for e in entries:
        print("\t".join(e[f].replace("\t", " ") for f in fields))
    return 0

# ---- the matrix: ci/kernel-regressions.sh's runs, judged and tabulated ----

# Failure classes (the run report's failure_classes, harness/fuzz/shrink.hpp)
# that only the kernel's own watchdog produces: a catch by them alone is weak.
WATCHDOG_CLASSES = {"kernel-watchdog-stall"}
VM_TIMEOUT = 6  # aqcheck vm's exit code for a guest killed at --timeout (harness/common/exit_codes.hpp)


def _read(path, default=None):
    try:
        return path.read_text().strip()
    except OSError:
        return default


def judge_run(run_dir, name, expect):
    """One run of a scenario: its verdict against the header's expectation."""
    rc = _read(run_dir / f"{name}.exit")
    rc = int(rc) if rc is not None and rc.lstrip("-").isdigit() else None
    try:
        report = json.loads((run_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        report = None
    row = {"run": name, "exit": rc, "failures": [], "classes": [], "first_failure_s": None,
           "kernel": None, "seed": None, "host_stalls": 0}
    if report:
        row["kernel"] = report.get("kernel")
        row["seed"] = report.get("seed")
        for c in report.get("cases", []):
            row["failures"] += c.get("failures", [])
            row["classes"] += [k for k in c.get("failure_classes", []) if k not in row["classes"]]
            t = c.get("first_failure_s", -1)
            if t is not None and t >= 0 and (row["first_failure_s"] is None or t < row["first_failure_s"]):
                row["first_failure_s"] = round(t, 1)
            row["host_stalls"] += (c.get("host") or {}).get("stalls", 0)
    if rc == 0:
        row["outcome"] = "survived"
    elif rc == 1 and any(f.startswith(expect) for f in row["failures"]):
        row["outcome"] = "weak" if set(row["classes"]) <= WATCHDOG_CLASSES else "caught"
    elif rc == 1:
        row["outcome"] = "other-check"
    elif rc == VM_TIMEOUT:
        # The guest hung past --timeout (aqcheck vm dumped its state): the
        # kernel broke, but no check of the run named it.
        row["outcome"] = "hang"
        row["classes"] = ["guest-hung"]
    else:
        row["outcome"] = "error"
    return row


def summarize(out):
    """matrix.json and matrix.md from OUT (ci/kernel-regressions.sh's --out)."""
    out = pathlib.Path(out)
    table = [line.split("\t") for line in (out / "regressions.tsv").read_text().splitlines() if line]
    controls = []
    for line in (_read(out / "control/scenarios.tsv", "") or "").splitlines():
        key, scenario = line.split("\t", 1)
        c = judge_run(out / "control", key, "\0")
        controls.append({"scenario": scenario, "exit": c["exit"], "failures": c["failures"],
                         "verdict": "PASS" if c["exit"] == 0 else "FAIL", "kernel": c["kernel"]})
    try:
        header_check = {e["id"]: e["check"] for e in load()}
    except FormatError:
        header_check = {}
    rows = []
    for rid, origin, title, scenario, expect, catch in table:
        d = out / rid
        runs = [judge_run(d, p.stem, expect) for p in sorted(d.glob("run-*.exit"), key=lambda p: int(p.stem[4:]))]
        caught = [r for r in runs if r["outcome"] in ("caught", "weak")]
        build = json.loads(_read(d / "build.json", "{}") or "{}")
        times = sorted(r["first_failure_s"] for r in caught if r["first_failure_s"] is not None)
        outcomes = {r["outcome"] for r in runs}
        if runs and outcomes <= {"caught"}:
            verdict = "caught"
        elif caught and outcomes <= {"caught", "weak"}:
            verdict = "weak catch"
        elif caught:
            verdict = "caught sometimes"
        elif "other-check" in outcomes:
            verdict = "caught by another check"
        elif "hang" in outcomes:
            verdict = "guest hung"
        elif "error" in outcomes:
            verdict = "error"
        else:
            verdict = "SURVIVED"
        # The check that caught it: the header's, where its reason came; else
        # the most severe class of what the run did fail with.
        checks = []
        for r in runs:
            for k in ([header_check.get(rid, r["classes"][:1])] if r["outcome"] in ("caught", "weak")
                      else r["classes"][:1]):
                k = k if isinstance(k, str) else (k[0] if k else "")
                if k and k not in checks:
                    checks.append(k)
        rows.append({"id": rid, "origin": origin, "title": title, "scenario": scenario, "expect": expect,
                     "catch_expected": catch,
                     "verdict": verdict, "runs": len(runs), "caught": len(caught), "checks": checks,
                     "seconds_to_catch": times[len(times) // 2] if times else None,
                     "seconds_to_catch_all": times, "build_seconds": build.get("build_seconds"),
                     "kernel": build.get("version"), "detail": runs})
    ok_controls = all(c["verdict"] == "PASS" for c in controls)
    matrix = {"schema": "aqcheck-kernel-regressions/1", "controls": controls, "regressions": rows,
              "verdict": "PASS" if ok_controls and rows and all(r["verdict"] == "caught" for r in rows) else "FAIL"}
    (out / "matrix.json").write_text(json.dumps(matrix, indent=2) + "\n")
    md = ["# Known-bad kernels", "",
          f"Verdict: **{matrix['verdict']}** ({sum(r['verdict'] == 'caught' for r in rows)} of {len(rows)} caught "
          f"by the check expected; {sum(r['origin'] == 'revert' and r['caught'] == r['runs'] and r['runs'] > 0 for r in rows)} "
          f"of {sum(r['origin'] == 'revert' for r in rows)} real reverts caught every run)", ""]
    if controls:
        md += ["Controls (the unpatched kernel, each scenario once; each must PASS):", "",
               "| scenario | verdict |", "|---|---|"]
        md += [f"| `{c['scenario']}` | {c['verdict']}{'' if c['verdict'] == 'PASS' else ': ' + '; '.join(c['failures'][:2])} |"
               for c in controls]
        md.append("")
    md += ["| regression | origin | expected | verdict | caught | check | s to catch (median) | scenario |",
           "|---|---|---|---|---:|---|---:|---|"]
    for r in rows:
        s = "" if r["seconds_to_catch"] is None else f"{r['seconds_to_catch']:.1f}"
        md.append(f"| {r['id']}: {r['title']} | {r['origin']} | {r['catch_expected']} | {r['verdict']} | {r['caught']}/{r['runs']} | "
                  f"{', '.join(r['checks']) or '-'} | {s} | `{r['scenario']}` |")
    md += ["", "Failures and reruns:", ""]
    for r in rows:
        for run in r["detail"]:
            first = run["failures"][0] if run["failures"] else "(no failure)"
            md.append(f"- {r['id']} {run['run']}: {run['outcome']}, exit {run['exit']}, seed {run['seed']}: {first}")
    (out / "matrix.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if matrix["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
