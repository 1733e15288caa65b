"""Issue 2: scx_aqmap loads and schedules on a real sched_ext kernel."""
import re

from conftest import FAIL, PASS


def kernel_problems(console):
    bad = []
    for line in console.splitlines():
        if not re.match(r"^\[\s*\d+\.\d+\] ", line):
            continue  # programs in the guest share the console
        if "WARNING:" in line or "BUG:" in line:
            bad.append(line)
        if re.search(r"sched_ext: .* disabled \(", line) and "(unregistered from user space)" not in line:
            bad.append(line)
    return bad


def test_smoke_ten_seconds_of_stress(vm):
    r = vm(["--duration", "10", "--stress", "--cpu 2 --switch 2 --fork 1"], name="smoke")
    assert r.rc == PASS, r.explain()
    assert r.report["verdict"] == "PASS"
    assert r.report["sched_ext_ops"] == "aqmap"
    c = r.case("stress")
    assert c["counters"]["nr_enqueued"] > 0
    assert c["counters"]["nr_dispatched"] > 0
    assert c["exit"]["kind_name"] == "unregistered from user space"
    assert c["slab"]["free"] == c["slab"]["total"]
    assert "aqcheck-guest: kernel 7." in r.console
    assert kernel_problems(r.console) == []


def test_scheduler_error_is_a_fail_with_its_message(vm):
    r = vm(["--duration", "5", "--error-after-enqueues", "300"], name="error-knob")
    assert r.rc == FAIL, r.explain()
    assert r.report["verdict"] == "FAIL"
    reasons = "\n".join(r.report["failures"])
    assert "scheduler ejected" in reasons
    assert "aqmap test knob: error after 300 enqueues" in reasons
    assert "aqcheck verdict: FAIL" in r.out
