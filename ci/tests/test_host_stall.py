"""A FAIL the host caused says so, and its retry is in the report.

Under TCG the whole guest sometimes stands still for seconds (the host did
not run qemu).  Here the tests make that happen for real: they stop qemu with
SIGSTOP, or block it with the cgroup freezer, mid-run.

A short freeze: every task that was waiting then waited past the stuck-task
bound, so the first attempt FAILs; every reason must carry the host-stall
mark, aqcheck must run the case again once the guest has settled, and the
report must keep the failed attempt next to the final verdict.

A long one (from 20 s the guest kernel reports a soft lockup and an RCU
stall; a 7.2 guest frozen 30 s then hung at its next CPU hotplug): the boot
is lost to the host.  `aqcheck vm` must end it, say so, boot again and write
the lost boot into the report, whether qemu was stopped (the host's view
shows it) or blocked (only the guest's standstill and qemu's idle CPU do).
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

from conftest import AQCHECK, CACHE, KERNEL, OUT, PASS, require_kernel

FREEZE_S = 8          # past the default 4 s stuck-task bound, far below the kernel's 21 s RCU stall
LONG_FREEZE_S = 30    # past the kernel's 20 s soft-lockup and 21 s RCU-stall reports
ATTACHED = ": scx_aqmap attached"
HOST_STALL_MARK = "; host stall:"


def qemu_of(pid):
    """The qemu process `aqcheck vm` (pid) started."""
    for child in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if pathlib.Path(f"/proc/{child}/comm").read_text().startswith("qemu-system"):
            return int(child)
    raise AssertionError(f"aqcheck vm (pid {pid}) has no qemu child")


class Freezer:
    """The kernel's cgroup freezer: qemu's threads block (state D), neither
    stopped nor waiting for a CPU, as behind a host I/O stall or qemu's own
    lock.  cgroup v1's freezer controller, or v2's cgroup.freeze."""

    def __init__(self, pid):
        v1 = pathlib.Path("/sys/fs/cgroup/freezer")
        self.dir = (v1 if v1.is_dir() else pathlib.Path("/sys/fs/cgroup")) / f"aqcheck-test-{pid}"
        self.dir.mkdir()
        (self.dir / "cgroup.procs").write_text(str(pid))
        self.v1 = v1.is_dir()

    def freeze(self, frozen):
        if self.v1:
            (self.dir / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
        else:
            (self.dir / "cgroup.freeze").write_text("1" if frozen else "0")

    def remove(self):
        for _ in range(50):  # until aqcheck has reaped the killed qemu
            try:
                self.dir.rmdir()
                return
            except OSError:
                time.sleep(0.2)


def run_frozen(name, freeze_s, run_args, how="sigstop"):
    """aqcheck vm -- run RUN_ARGS with qemu stopped (SIGSTOP) or blocked (the
    cgroup freezer) for FREEZE_S, 3 s after the scheduler attached; returns
    (exit code, output, report, console)."""
    require_kernel()
    OUT.mkdir(parents=True, exist_ok=True)
    report = OUT / f"{name}.json"
    console = OUT / f"{name}.console.log"
    for p in (report, console):
        p.unlink(missing_ok=True)
    cmd = [str(AQCHECK), "vm", "--kernel", KERNEL, "--cache", str(CACHE), "--console", str(console),
           "--timeout", "600", "--", "run", *run_args, "--json", str(report)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            stdin=subprocess.DEVNULL)
    lines, frozen, freezer = [], False, None
    try:
        for line in proc.stdout:
            lines.append(line)
            if not frozen and ATTACHED in line:
                frozen = True
                time.sleep(3)  # let the run settle: tasks queue on the FIFOs
                qemu = qemu_of(proc.pid)
                if how == "sigstop":
                    os.kill(qemu, signal.SIGSTOP)
                    time.sleep(freeze_s)
                    try:
                        os.kill(qemu, signal.SIGCONT)
                    except ProcessLookupError:
                        pass  # aqcheck ended that boot meanwhile
                else:
                    freezer = Freezer(qemu)
                    freezer.freeze(True)
                    time.sleep(freeze_s)
                    freezer.freeze(False)
        rc = proc.wait(timeout=660)
    finally:
        if proc.poll() is None:
            proc.kill()
        if freezer:
            freezer.remove()
    out = "".join(lines)
    (OUT / f"{name}.out.log").write_text(out)
    assert frozen, f"never saw {ATTACHED!r}:\n{tail_of(out)}"
    return rc, out, (json.loads(report.read_text()) if report.exists() else None), console


def tail_of(out):
    """The end of the output, after every line about a standstill and the
    host's judgement of it (they may come long before the end)."""
    lines = out.splitlines()
    judged = [l for l in lines[:-40] if l.startswith(("aqcheck-guest: watchdog:", "aqcheck: vm:", "aqcheck: warning:"))]
    return "\n".join(judged + ["[...]"] + lines[-40:])


def test_a_frozen_guest_fails_as_a_host_stall_and_is_retried_visibly():
    rc, out, j, _ = run_frozen("host-stall", FREEZE_S,
                               ["--stress", "--cpu 8", "--duration", "30", "--seed", "4242"])
    tail = tail_of(out)
    assert rc == PASS, f"aqcheck exit {rc}:\n{tail}"
    assert "vm" not in j, j.get("vm")  # one boot: a short freeze is the run's to judge

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


def test_a_guest_frozen_past_the_kernels_lockup_detectors_is_a_boot_lost_to_the_host():
    rc, out, j, console = run_frozen("host-freeze", LONG_FREEZE_S,
                                     ["--stress", "--cpu 4", "--duration", "10", "--seed", "4243"])
    tail = tail_of(out)
    assert rc == PASS, f"aqcheck exit {rc}:\n{tail}"
    assert re.search(r"aqcheck: warning: the host did not run the guest for 2[0-4] s \(qemu was stopped: SIGSTOP\)",
                     out), tail
    assert "booting again (attempt 2 of 3)" in out, tail
    # Ended at the bound, not after the kernel's own reaction to the freeze.
    assert "soft lockup" not in out and "detected stalls" not in out, tail
    assert j["verdict"] == "PASS" and j["vm"]["boots"] == 2, j.get("vm")
    (lost,) = j["vm"]["lost_boots"]
    (because,) = j["vm"]["lost_because"]
    assert lost == f"{console}.lost1" and pathlib.Path(lost).exists(), lost
    assert re.match(r"the host did not run the guest for 2[0-4] s \(qemu was stopped", because), because


def test_a_guest_that_stood_still_while_qemu_was_blocked_is_a_boot_lost_to_the_host():
    """Not stopped, not waiting for a CPU: the host's scheduler shows nothing,
    the guest reports its standstill, and qemu's CPU time says it was not the
    guest's doing (a guest kernel that locks up spins its vCPUs)."""
    rc, out, j, console = run_frozen("host-blocked", LONG_FREEZE_S,
                                     ["--stress", "--cpu 4", "--duration", "10", "--seed", "4244"], how="freezer")
    tail = tail_of(out)
    assert rc == PASS, f"aqcheck exit {rc}:\n{tail}"
    # 30 s frozen: the watchdog's 1 s poll came back 29 to 31 s late, with the
    # share of its poll that had run before the freeze and the thaw's latency.
    assert re.search(r"aqcheck-guest: watchdog: the whole guest stood still (29|3[01])\.\d s", out), tail
    assert re.search(r"aqcheck: warning: the guest stood still (29|3[01]) s while qemu used 0\.\d\d CPU-s/s: "
                     r"qemu was blocked", out), tail
    assert "booting again (attempt 2 of 3)" in out, tail
    assert j["verdict"] == "PASS" and j["vm"]["boots"] == 2, j.get("vm")
    (because,) = j["vm"]["lost_because"]
    assert "qemu was blocked on the host" in because, because
    # The lost boot's readings went with its console log.
    assert pathlib.Path(f"{console}.lost1.host").read_text().startswith("# t_s wall_s qemu_cpu_s")
    # What the host measured, once a second, is kept beside the console log.
    assert pathlib.Path(f"{console}.host").read_text().startswith("# t_s wall_s qemu_cpu_s")
