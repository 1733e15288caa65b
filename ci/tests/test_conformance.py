"""Issue 8: kernel conformance.  The kernel's own sched_ext selftests (built
by ci/selftests.sh from the kernel's source) run in the VM through `aqcheck
selftests`; a test that does not report a result is a FAIL, said as such."""
import json

import pytest

from conftest import AQCHECK, CACHE, FAIL, KERNEL, OUT, REQUIRE_KERNEL, USAGE, run_aqcheck, require_kernel


def selftests_dir():
    d = CACHE / "selftests" / KERNEL
    if not (d / "runner").exists():
        reason = f"no selftest runner in {d} (run ci/selftests.sh --kernel {KERNEL})"
        if REQUIRE_KERNEL:
            pytest.fail(f"kernel test cannot run and AQCHECK_REQUIRE_KERNEL=1: {reason}")
        pytest.skip(f"KERNEL TEST NOT RUN: {reason}")
    return d


def test_contract_selftests_pass_and_a_missing_result_fails():
    require_kernel()
    d = selftests_dir()
    # dequeue: the contract itself; minimal: sched_ext loads at all;
    # ddsp_bogus_dsq_fail: its scheduler is disabled on purpose, which the
    # guest judges (the host once counted that console line as a kernel
    # problem); the last names no test, so the runner gives no result line.
    r = run_aqcheck(["vm", "--cpus", "4", "--timeout", "1200", "--", "selftests", "--runner", str(d / "runner"),
                     "--tests", "dequeue,minimal,ddsp_bogus_dsq_fail,no_such_selftest"], timeout=1260,
                    name="selftests")
    assert r.rc == FAIL, r.explain()
    assert r.report["schema"] == "aqcheck-selftests/1" and r.report["kernel"].startswith(KERNEL + ".")
    results = {t["name"]: t["result"] for t in r.report["tests"]}
    assert results == {"dequeue": "PASS", "minimal": "PASS", "ddsp_bogus_dsq_fail": "PASS",
                       "no_such_selftest": "FAIL"}, r.report["tests"]
    exits = {t["name"]: t["kernel_log"] for t in r.report["tests"]}["ddsp_bogus_dsq_fail"]
    assert any('"ddsp_bogus_dsq_fail" disabled (runtime error)' in l for l in exits), r.report["tests"]
    assert "kernel problems in the console log" not in r.out, r.explain()
    assert r.report["failures"] == ["kernel conformance: selftest no_such_selftest: runner exited 1 without a "
                                    "result line"], r.report["failures"]


def test_contract_list_names_the_dequeue_test():
    d = selftests_dir()
    names = [l.split()[0] for l in (d / "contract-tests.txt").read_text().splitlines() if l.strip() and l[0] != "#"]
    assert "dequeue" in names and set(names) <= set((d / "tests.txt").read_text().split())


def test_missing_runner_is_one_error_line_before_any_boot(tmp_path):
    r = run_aqcheck(["vm", "--", "selftests", "--runner", str(tmp_path / "nope"), "--tests", "dequeue"],
                    name="selftests-missing", add_json=False)
    assert r.rc == USAGE and r.errors().startswith("aqcheck: error: selftests: no such file"), r.out
