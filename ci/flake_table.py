#!/usr/bin/env python3
"""Tabulates pytest JUnit files of repeated runs: per test and failure reason,
how many runs failed, so that a flaky verdict stands out from a steady one.

Usage: ci/flake_table.py run-1.xml run-2.xml ...
Reasons are the first line of each failure message with numbers replaced by
N, so the same failure with another pid or count lands in one row.
"""
import collections
import re
import sys
import xml.etree.ElementTree as ET


def reason(text):
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else "(no message)"
    return re.sub(r"\d+", "N", first)[:160]


def main(paths):
    runs = len(paths)
    tests = set()
    failed = collections.Counter()
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
            tests.add(name)
            for bad in list(case.iter("failure")) + list(case.iter("error")):
                failed[(name, bad.tag, reason(bad.get("message") or bad.text))] += 1
    print(f"# flake hunt: {runs} run(s), {len(tests)} test(s)\n")
    if not failed:
        print(f"No failure in {runs} run(s) of {len(tests)} test(s).")
        return
    print("| test | kind | reason | failed runs |")
    print("|---|---|---|---:|")
    for (name, kind, why), count in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"| {name} | {kind} | {why.replace('|', '/')} | {count}/{runs} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: ci/flake_table.py RUN.xml...")
    main(sys.argv[1:])
