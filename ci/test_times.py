#!/usr/bin/env python3
"""Where `.ci/run`'s time went: each phase of ci/test.sh, the total against the
budget, and the slowest tests of every JUnit file (ctest's and pytest's).

ci/test.sh calls it on the way out, passed or failed, so a run that blew the
budget says where.  It only reports: the budget is watched by people reading
it (docs/ci.md "The time budget"), never by a timed assertion.

usage: test_times.py --phases PHASES.tsv --total SECONDS [--budget MIN] [--top N] JUNIT.xml...
PHASES.tsv: one line per phase, "name<TAB>seconds<TAB>exit code".
"""
import argparse
import pathlib
import sys
import xml.etree.ElementTree as ET


def read_phases(path):
    rows = []
    for line in pathlib.Path(path).read_text().splitlines():
        name, secs, rc = line.split("\t")
        rows.append((name, int(secs), int(rc)))
    return rows


def junit_tests(path):
    """(seconds, suite file, test name) of every testcase in a JUnit file."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        print(f"test-times: {path}: unreadable ({e})", file=sys.stderr)
        return []
    out = []
    for tc in root.iter("testcase"):
        name = tc.get("name", "?")
        cls = tc.get("classname", "")
        label = f"{cls}::{name}" if cls and not name.startswith(cls) else name
        out.append((float(tc.get("time") or 0), pathlib.Path(path).name, label))
    return out


def minutes(s):
    return f"{s // 60}:{s % 60:02d}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phases", required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--budget", type=int, default=45, help="minutes")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("junit", nargs="*")
    a = ap.parse_args()

    print(f"\n== time: {minutes(a.total)} in all (budget {a.budget}:00)")
    print("| phase | time | exit |")
    print("|---|---:|---:|")
    for name, secs, rc in read_phases(a.phases):
        print(f"| {name} | {minutes(secs)} | {rc} |")
    tests = [t for j in a.junit if pathlib.Path(j).exists() for t in junit_tests(j)]
    if tests:
        print(f"\n== the {min(a.top, len(tests))} slowest of {len(tests)} tests")
        print("| seconds | file | test |")
        print("|---:|---|---|")
        for secs, src, label in sorted(tests, reverse=True)[:a.top]:
            print(f"| {secs:.0f} | {src} | {label} |")
    if a.total > a.budget * 60:
        print(f"\n== OVER BUDGET: {minutes(a.total)} > {a.budget}:00")
    return 0


if __name__ == "__main__":
    sys.exit(main())
