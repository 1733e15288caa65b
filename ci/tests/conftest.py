"""Shared pieces of the aqcheck pytest suite.

Kernel tests need a sched_ext kernel image fetched by ci/setup.sh and qemu.
When those are missing a kernel test is SKIPPED with the reason; with
AQCHECK_REQUIRE_KERNEL=1 (as .ci/run sets) it FAILS instead, so CI can never
turn green without having booted a kernel.
"""
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
AQCHECK = pathlib.Path(os.environ.get("AQCHECK", ROOT / "build/default/harness/aqcheck"))
CACHE = pathlib.Path(os.environ.get("AQ_CACHE", "/var/cache/aqcheck"))
KERNEL = os.environ.get("AQ_KERNEL", "7.2")
REQUIRE_KERNEL = os.environ.get("AQCHECK_REQUIRE_KERNEL") == "1"
WORKLOADS_DIR = ROOT / "workloads"
OUT = pathlib.Path(os.environ.get("AQ_TEST_OUT", ROOT / "out/pytest"))

# Exit codes of aqcheck (harness/common/exit_codes.hpp).
PASS, FAIL, USAGE, NOT_ROOT, NO_SCHED_EXT, NO_KERNEL, VM_TIMEOUT, BAD_WORKLOAD, LOAD_FAILED, VM_FAILED = range(10)
INTERNAL, BAD_SPEC, BAD_PLAN, NO_KERNEL_COVERAGE = 10, 11, 15, 16


def workload_names():
    return sorted(p.stem for p in WORKLOADS_DIR.glob("*.job"))


def kernel_missing_reason():
    if not AQCHECK.exists():
        return f"no aqcheck binary at {AQCHECK} (build it: cmake --preset default && cmake --build --preset default)"
    if not (CACHE / "kernels" / KERNEL / "vmlinuz").exists():
        return f"no sched_ext kernel {KERNEL} in {CACHE}/kernels (run ci/setup.sh --kernel {KERNEL})"
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (run ci/setup.sh)"
    return None


def require_kernel():
    reason = kernel_missing_reason()
    if reason:
        if REQUIRE_KERNEL:
            pytest.fail(f"kernel test cannot run and AQCHECK_REQUIRE_KERNEL=1: {reason}")
        pytest.skip(f"KERNEL TEST NOT RUN: {reason}")


@dataclasses.dataclass
class Result:
    rc: int
    out: str
    report: dict | None
    console: str
    json_path: pathlib.Path

    def case(self, name):
        assert self.report, f"no JSON report (exit {self.rc}): {self.errors()}\n{self.out[-3000:]}"
        for c in self.report["cases"]:
            if c["name"] == name:
                return c
        raise AssertionError(f"no case {name} in report: {[c['name'] for c in self.report['cases']]}")

    def errors(self):
        """aqcheck's own error lines: why there is no verdict, first."""
        return "; ".join(l for l in self.out.splitlines() if l.startswith("aqcheck: error:"))

    def explain(self):
        tail = "\n".join(self.out.splitlines()[-40:])
        return f"aqcheck exit {self.rc}; last lines:\n{tail}"


def run_aqcheck(args, timeout=600, name="run", add_json=True):
    """Runs aqcheck with args; --json/--console are added under OUT/name
    (--json only with add_json: `fuzz` writes its own summaries instead)."""
    OUT.mkdir(parents=True, exist_ok=True)
    json_path = OUT / f"{name}.json"
    console = OUT / f"{name}.console.log"
    for p in (json_path, console):
        if p.exists():
            p.unlink()
    args = list(args)
    if args and args[0] == "vm":
        sep = args.index("--") if "--" in args else len(args)
        args[1:1] = ["--console", str(console), "--kernel", KERNEL, "--cache", str(CACHE)]
        if "--" not in args:
            args += ["--", "run"]
    if add_json and "--json" not in args:
        args += ["--json", str(json_path)]
    proc = subprocess.run([str(AQCHECK), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    (OUT / f"{name}.out.log").write_text(proc.stdout)
    report = json.loads(json_path.read_text()) if json_path.exists() else None
    text = console.read_text(errors="replace") if console.exists() else ""
    return Result(proc.returncode, proc.stdout, report, text, json_path)


@pytest.fixture
def vm():
    """vm(run_args, name=...) boots the kernel and runs `aqcheck run run_args` in it."""
    require_kernel()

    def go(run_args, name, vm_args=(), timeout_s=900):
        return run_aqcheck(["vm", "--timeout", str(timeout_s), *vm_args, "--", "run", *run_args],
                           timeout=timeout_s + 60, name=name)

    return go


def run_batch(name, runs, timeout_s, vm_args=()):
    """Boots one VM for several independent runs (`aqcheck vm -- batch`):
    runs maps a run's name to its `aqcheck run` arguments.  Returns a Result
    per run: its own exit code and report, the boot's output and console.
    Each run's report reruns that run alone, as printed."""
    out_dir = OUT / name
    shutil.rmtree(out_dir, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    plan = OUT / f"{name}.plan.json"
    plan.write_text(json.dumps({"schema": "aqcheck-batch-plan/1",
                                "runs": [{"name": n, "run": list(a)} for n, a in runs.items()]}, indent=2))
    boot = run_aqcheck(["vm", "--timeout", str(timeout_s), *vm_args, "--", "batch", "--plan", str(plan),
                        "--out", str(out_dir)], timeout=timeout_s + 60, name=name, add_json=False)
    summary = out_dir / "batch.json"
    exits = {r["name"]: r["exit"] for r in json.loads(summary.read_text())["runs"]} if summary.exists() else {}
    # What the host judged about the whole boot (kernel problems outside every
    # run's own kernel log, a hung or broken VM) belongs to no one run: each
    # run that passed on its own takes that verdict, as a boot of its own would.
    host_verdict = boot.rc not in (PASS, FAIL) or "aqcheck: kernel problems in the console log:" in boot.out
    results = {}
    for n in runs:
        path = out_dir / f"{n}.json"
        report = json.loads(path.read_text()) if path.exists() else None
        # No batch report: the boot's own exit code says why (a hung or lost VM).
        rc = exits.get(n, boot.rc)
        if host_verdict and rc == PASS:
            rc = boot.rc if boot.rc != PASS else FAIL
        results[n] = Result(rc, boot.out, report, boot.console, path)
    return results


def pytest_collection_modifyitems(items):
    """test_html_reports.py last (a stable sort keeps every other order): it
    renders the reports the kernel, gate and fuzz tests left in OUT, rather
    than boot a VM of its own."""
    items.sort(key=lambda item: item.path.name == "test_html_reports.py")
