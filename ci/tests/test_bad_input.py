"""Bad input gets one clear error line, its own exit code and no report."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import (AQCHECK, BAD_PLAN, BAD_WORKLOAD, CACHE, NO_KERNEL, NO_KERNEL_COVERAGE, NO_SCHED_EXT, NOT_ROOT,
                      OUT, ROOT, USAGE, VM_FAILED, VM_TIMEOUT, require_kernel)


@pytest.fixture(autouse=True)
def built():
    if not AQCHECK.exists():
        pytest.fail(f"no aqcheck binary at {AQCHECK}")


def aqcheck(*args, user=None, timeout=120):
    cmd = [str(AQCHECK), *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]  # numeric ids
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def error_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("aqcheck: error:")]


@pytest.fixture
def report_path(tmp_path):
    return tmp_path / "report.json"


def assert_one_error(rc, err, code, *needles):
    lines = error_lines(err)
    assert rc == code, (rc, err)
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_malformed_workload_names_the_line(tmp_path, report_path):
    bad = tmp_path / "broken.job"
    bad.write_text("# purpose: x\n# duration: 5\n# expect: nr_enqueued >= 1\nrun parallel\ncpu 1\nno-such-stressor 2\n")
    rc, out, err = aqcheck("run", "--workload", str(bad), "--json", str(report_path))
    assert_one_error(rc, err, BAD_WORKLOAD, f"{bad}:6:")
    assert not report_path.exists()


def test_workload_header_errors_are_caught(tmp_path):
    bad = tmp_path / "noexpect.job"
    bad.write_text("# purpose: x\n# duration: 5\ncpu 1\n")
    rc, out, err = aqcheck("run", "--workload", str(bad))
    assert_one_error(rc, err, BAD_WORKLOAD, "expect")


def test_unknown_workload_lists_the_known_ones():
    rc, out, err = aqcheck("run", "--workload", "no-such-workload")
    assert_one_error(rc, err, BAD_WORKLOAD, "unknown workload 'no-such-workload'", "affinity-churn")


def test_bad_workload_is_rejected_before_a_vm_boots(tmp_path):
    bad = tmp_path / "broken.job"
    bad.write_text("# purpose: x\n# duration: 5\n# expect: nr_enqueued >= 1\ntimeout 5\n")
    rc, out, err = aqcheck("vm", "--", "run", "--workload", str(bad), timeout=30)
    assert_one_error(rc, err, BAD_WORKLOAD, f"{bad}:4:")
    assert "qemu" not in out


def plan_file(tmp_path, runs, schema="aqcheck-batch-plan/1"):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"schema": schema, "runs": runs}))
    return path


@pytest.mark.parametrize("runs,schema,code,needle", [
    ([{"name": "a", "run": []}], "x", BAD_PLAN, "schema must be"),
    ([{"name": "a", "run": ["--json", "a.json"]}], "aqcheck-batch-plan/1", BAD_PLAN, "is the batch's to set"),
    ([{"name": "a", "run": []}, {"name": "a", "run": []}], "aqcheck-batch-plan/1", BAD_PLAN, "given twice"),
    # Each run's arguments are `run`'s, checked as `aqcheck vm -- run` checks them.
    ([{"name": "a", "run": ["--variant", "sloppy"]}], "aqcheck-batch-plan/1", USAGE, "--variant"),
    ([{"name": "a", "run": ["--workload", "no-such-workload"]}], "aqcheck-batch-plan/1", BAD_WORKLOAD,
     "unknown workload 'no-such-workload'"),
])
def test_bad_batch_plan_is_rejected_before_a_vm_boots(tmp_path, runs, schema, code, needle):
    rc, out, err = aqcheck("vm", "--", "batch", "--plan", str(plan_file(tmp_path, runs, schema)), "--out",
                           str(tmp_path / "out"), timeout=30)
    assert_one_error(rc, err, code, needle)
    assert "qemu" not in out and not (tmp_path / "out").exists()


def test_missing_batch_plan(tmp_path):
    rc, out, err = aqcheck("batch", "--plan", str(tmp_path / "none.json"))
    assert_one_error(rc, err, BAD_PLAN, "cannot read batch plan")


def test_batch_on_a_host_without_sched_ext_is_one_error_line(tmp_path):
    plan = plan_file(tmp_path, [{"name": "a", "run": ["--duration", "1"]}, {"name": "b", "run": ["--duration", "1"]}])
    rc, out, err = aqcheck("batch", "--plan", str(plan), "--out", str(tmp_path / "out"))
    assert_one_error(rc, err, NO_SCHED_EXT, "aqcheck vm -- batch")
    assert not (tmp_path / "out" / "batch.json").exists()


def test_missing_kernel_image(tmp_path, report_path):
    rc, out, err = aqcheck("vm", "--kernel", "9.9", "--cache", str(tmp_path), "--", "run", "--json", str(report_path))
    assert_one_error(rc, err, NO_KERNEL, "no kernel image for 9.9", "ci/setup.sh --kernel 9.9")
    assert not report_path.exists()
    rc, out, err = aqcheck("vm", "--kernel", str(tmp_path / "bzImage"))
    assert_one_error(rc, err, NO_KERNEL)


@pytest.mark.skipif(pathlib.Path("/sys/kernel/sched_ext/state").exists(), reason="this host kernel has sched_ext")
def test_host_without_sched_ext(report_path):
    rc, out, err = aqcheck("run", "--duration", "1", "--json", str(report_path))
    assert_one_error(rc, err, NO_SCHED_EXT, "has no sched_ext", "aqcheck vm")
    assert not report_path.exists()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
def test_not_root(report_path):
    rc, out, err = aqcheck("run", "--duration", "1", user="65534")  # nobody
    assert_one_error(rc, err, NOT_ROOT, "must run as root")


def test_bad_command_line():
    rc, out, err = aqcheck("run", "--duration", "-3")
    assert rc == USAGE
    rc, out, err = aqcheck("run", "--variant", "sloppy")
    assert rc == USAGE
    rc, out, err = aqcheck("frobnicate")
    assert rc == USAGE


def test_hung_vm_is_killed_at_the_timeout_and_dumps_first(report_path):
    """A run that outlives --timeout: killed with exit 6, no report, and the
    guest watchdog's dump (harness stacks, blocked tasks, sched_ext state) is
    in the console log."""
    require_kernel()
    console = OUT / "hung.console.log"
    rc, out, err = aqcheck("vm", "--timeout", "30", "--console", str(console), "--", "run",
                           "--duration", "60", "--json", str(report_path), timeout=120)
    assert_one_error(rc, err, VM_TIMEOUT, "VM hung", "console log")
    assert not report_path.exists()
    log = console.read_text(errors="replace")
    assert "aqcheck-guest: watchdog: no verdict at " in log
    assert "aqcheck-guest: watchdog: aqcheck pid " in log  # the harness's own stacks
    for sysrq in ("sysrq: Show State", "sysrq: Trigger sched_ext debug dump"):
        assert sysrq in log, sysrq


def test_kernel_coverage_on_a_kernel_without_gcov(tmp_path, report_path):
    """Debian's kernel keeps no gcov data: one error line naming the way to a
    coverage kernel, exit 16, before any case runs, and no report."""
    require_kernel()
    rc, out, err = aqcheck("vm", "--timeout", "120", "--", "run", "--duration", "1", "--kernel-coverage",
                           str(tmp_path / "gcov"), "--json", str(report_path), timeout=240)
    lines = [l for l in (out + err).splitlines() if l.startswith("aqcheck: error:")]
    assert rc == NO_KERNEL_COVERAGE, (rc, out[-2000:], err)
    assert len(lines) == 1 and "--profile coverage" in lines[0], lines
    assert not report_path.exists()


@pytest.mark.parametrize("args, code, needle", [
    (["x"], 2, "give LABEL=DIR"),
    (["a/b=/tmp"], 2, "give LABEL=DIR"),
])
def test_kernel_coverage_report_bad_arguments(args, code, needle):
    p = subprocess.run(["/usr/bin/python3", str(ROOT / "ci/kernel_coverage.py"), "--kernel", "/nonexistent", *args],
                       capture_output=True, text=True)
    assert p.returncode == code and needle in p.stderr, (p.returncode, p.stderr)


def test_kernel_coverage_report_wants_a_coverage_kernel(tmp_path):
    (tmp_path / "build.json").write_text(json.dumps({"schema": "aqcheck-kernel-build/1", "profile": "default"}))
    p = subprocess.run(["/usr/bin/python3", str(ROOT / "ci/kernel_coverage.py"), "--kernel", str(tmp_path),
                        f"all={tmp_path}"], capture_output=True, text=True)
    assert p.returncode == 12 and "not a coverage kernel (profile default)" in p.stderr, p.stderr


def test_garbage_kernel_image(tmp_path):
    require_kernel()
    fake = tmp_path / "bzImage"
    fake.write_bytes(os.urandom(4096))
    rc, out, err = aqcheck("vm", "--kernel", str(fake), "--timeout", "20", timeout=120)
    assert rc in (VM_FAILED, VM_TIMEOUT), (rc, err)
    assert len(error_lines(err)) == 1, err
