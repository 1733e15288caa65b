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

usage: kernel_regressions.py [--fields id,origin,scenario,expect] [DIR]

DIR defaults to kernels/regressions beside this script's ci/.  The default
fields are id, origin, scenario and expect; any header key (lower case, e.g.
scheduler, catch, fix) or id/path may be asked for.  An optional key that a
patch leaves out prints its default.  Exit 1 on a malformed patch.
"""
import argparse
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
    ap = argparse.ArgumentParser(description="List kernels/regressions/*.patch as TSV.")
    ap.add_argument("--fields", default="id,origin,scenario,expect",
                    help="comma-separated: id, path, or a header key in lower case")
    ap.add_argument("dir", nargs="?", default=str(DEFAULT_DIR))
    args = ap.parse_args(argv)
    try:
        entries = load(args.dir)
    except FormatError as e:
        print(f"kernel_regressions: {e}", file=sys.stderr)
        return 1
    fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    known = {"id", "path", *(k.lower() for k in (*REQUIRED, *OPTIONAL))}
    bad = [f for f in fields if f not in known]
    if bad:
        ap.error(f"unknown field(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    for e in entries:
        print("\t".join(e[f].replace("\t", " ") for f in fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
