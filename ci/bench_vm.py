#!/usr/bin/env python3
"""Benchmark, from ONE VM run: boot-to-attach seconds, and stress-ng bogo-ops
under scx_aqmap divided by the same under the kernel's default scheduler
(both measured in that boot, back to back).  Prints figures; asserts nothing.

usage: ci/bench_vm.py [--kernel 7.2] [--duration 10] [--aqcheck PATH]
"""
import argparse
import json
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--kernel", default="7.2")
ap.add_argument("--duration", type=int, default=10)
ap.add_argument("--aqcheck", default=str(root / "build/default/harness/aqcheck"))
args = ap.parse_args()

out = root / "out/bench"
out.mkdir(parents=True, exist_ok=True)
report = out / "bench.json"
cmd = [args.aqcheck, "vm", "--kernel", args.kernel, "--console", str(out / "console.log"), "--", "run",
       "--baseline", "--duration", str(args.duration), "--stress", "--cpu 2 --fork 2 --switch 2",
       "--json", str(report)]
print("bench:", " ".join(cmd), flush=True)
rc = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
if not report.exists():
    sys.exit(f"bench: no report (aqcheck exit {rc})")
r = json.loads(report.read_text())
c = r["cases"][0]
print(f"kernel                      {r['kernel']}")
print(f"verdict                     {r['verdict']}")
# aqcheck runs the baseline after detaching: the attach is the first thing after boot.
print(f"boot-to-attach (s)          {c['attach_uptime_s']:.2f} (guest uptime when scx_aqmap was attached)")
for name, ops in sorted(c["stress"]["bogo_ops"].items()):
    base = c["stress"]["baseline_bogo_ops"].get(name)
    ratio = f"{ops / base:.3f}" if base else "n/a"
    print(f"bogo-ops {name:<18} scx_aqmap {ops:>10.0f}  default {base or 0:>10.0f}  ratio {ratio}")
