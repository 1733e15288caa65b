"""A FAIL the host caused says so, and its retry is in the report.

Under TCG the whole guest sometimes stands still for seconds (the host did
not run qemu).  Here the test makes that happen for real: it stops qemu with
SIGSTOP mid-run.  Every task that was waiting then waited past the stuck-task
bound, so the first attempt FAILs; every reason must carry the host-stall
mark, aqcheck must run the case again once the guest has settled, and the
report must keep the failed attempt next to the final verdict.
"""
import json
import os
import pathlib
import signal
import subprocess
import time

import pytest

from conftest import AQCHECK, CACHE, KERNEL, OUT, PASS, require_kernel

FREEZE_S = 8          # past the default 4 s stuck-task bound, far below the kernel's 21 s RCU stall
ATTACHED = ": scx_aqmap attached"
HOST_STALL_MARK = "; host stall:"


def qemu_of(pid):
    """The qemu process `aqcheck vm` (pid) started."""
    for child in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if pathlib.Path(f"/proc/{child}/comm").read_text().startswith("qemu-system"):
            return int(child)
    raise AssertionError(f"aqcheck vm (pid {pid}) has no qemu child")


def test_a_frozen_guest_fails_as_a_host_stall_and_is_retried_visibly():
    require_kernel()
    OUT.mkdir(parents=True, exist_ok=True)
    report = OUT / "host-stall.json"
    console = OUT / "host-stall.console.log"
    for p in (report, console):
        p.unlink(missing_ok=True)
    cmd = [str(AQCHECK), "vm", "--kernel", KERNEL, "--cache", str(CACHE), "--console", str(console),
           "--timeout", "600", "--", "run", "--stress", "--cpu 8", "--duration", "30", "--seed", "4242",
           "--json", str(report)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            stdin=subprocess.DEVNULL)
    lines, frozen = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            if not frozen and ATTACHED in line:
                frozen = True
                time.sleep(3)  # let the run settle: tasks queue on the FIFOs
                qemu = qemu_of(proc.pid)
                os.kill(qemu, signal.SIGSTOP)
                time.sleep(FREEZE_S)
                os.kill(qemu, signal.SIGCONT)
        rc = proc.wait(timeout=660)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    (OUT / "host-stall.out.log").write_text(out)
    tail = "\n".join(out.splitlines()[-40:])
    assert frozen, f"never saw {ATTACHED!r}:\n{tail}"
    assert rc == PASS, f"aqcheck exit {rc}:\n{tail}"

    j = json.loads(report.read_text())
    case = j["cases"][0]
    assert j["verdict"] == "PASS" and j["host_stall_retries"] == 1, tail
    (attempt,) = case["host_stall_retries"]
    assert attempt["failures"], attempt
    assert all(HOST_STALL_MARK in f for f in attempt["failures"]), attempt["failures"]
    assert any(f.startswith("stuck task: ") for f in attempt["failures"]), attempt["failures"]
    assert attempt["longest_stall_s"] >= FREEZE_S - 1, attempt
    # The retry waited for the guest's CPUs to go idle (two quiet seconds at least).
    assert attempt["settle_s"] >= 2, attempt
    assert "the guest settled in " in out or "the guest did not settle within " in out, tail
    # Visible on the console and in the verdict line, not only in the JSON.
    assert "FAIL caused by the host: every reason carries a host stall" in out, tail
    assert "1 host-stall retry: see the report" in out, tail
