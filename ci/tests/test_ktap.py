"""--ktap and `aqcheck report ktap` (docs/kernel-ci.md "KTAP"): what kernel CI
systems read.  Every schema's KTAP is parsed by the kernel's own parser,
tools/testing/kunit/kunit_parser.py from the linux-source ci/setup.sh unpacks,
and must parse without an error, with each test's status where aqcheck put
it.  Without that source the test is SKIPPED with the reason, and FAILS under
CI=true or AQCHECK_REQUIRE_KERNEL=1."""
import json
import os
import subprocess
import sys

import pytest

from conftest import AQCHECK, CACHE, KERNEL, REQUIRE_KERNEL

KUNIT = CACHE / "src" / KERNEL / "tools" / "testing" / "kunit"
MUST_RUN = REQUIRE_KERNEL or os.environ.get("CI") == "true"


def kunit_parser():
    missing = [p for p in (AQCHECK, KUNIT / "kunit_parser.py") if not p.exists()]
    if missing:
        why = f"missing: {', '.join(map(str, missing))} (ci/setup.sh unpacks the kernel's tools/testing/kunit)"
        if MUST_RUN:
            pytest.fail(f"KTAP cannot be checked under CI=true or AQCHECK_REQUIRE_KERNEL=1: {why}")
        pytest.skip(f"KTAP NOT CHECKED: {why}")
    sys.path.insert(0, str(KUNIT))
    import kunit_parser as kp  # noqa: E402  (the kernel's own)
    import kunit_printer  # noqa: E402
    return kp, kunit_printer.null_printer


def ktap_of(tmp_path, report):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    r = subprocess.run([str(AQCHECK), "report", "ktap", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("KTAP version 1\n"), r.stdout[:200]
    return r.stdout


def parse(tmp_path, report):
    kp, printer = kunit_parser()
    text = ktap_of(tmp_path, report)
    test = kp.parse_run_tests(text.splitlines(), printer)
    assert test.counts.errors == 0, text
    return kp, test, text


RUN = {"schema": "aqcheck-report/1", "verdict": "FAIL", "reproduce": "aqcheck vm --kernel 7.2 -- run --seed 1",
       "cases": [
           {"name": "cpu-baseline", "verdict": "PASS", "skipped": "", "failures": [], "failure_classes": []},
           {"name": "nice-churn", "verdict": "FAIL", "skipped": "",
            "failures": ["lost task: pid 42 (hog) # waited 5000 ms", "kernel log: WARNING: at ext.c:1"],
            "failure_classes": ["stuck-task", "kernel-log"]},
           {"name": "cpu-hotplug", "verdict": "SKIPPED", "skipped": "needs cpus >= 2, have 1",
            "failures": [], "failure_classes": []}]}


def test_a_run_report_parses_with_each_case_and_check(tmp_path):
    kp, test, text = parse(tmp_path, RUN)
    S = kp.TestStatus
    cases = {t.name: t for t in test.subtests}
    assert [t.name for t in test.subtests] == ["cpu-baseline", "nice-churn", "cpu-hotplug"], text
    assert cases["cpu-baseline"].status == S.SUCCESS
    assert cases["nice-churn"].status == S.FAILURE
    assert cases["cpu-hotplug"].status == S.SKIPPED
    # Nested: each case's checks, the failing ones not ok.
    checks = {t.name: t.status for t in cases["nice-churn"].subtests}
    assert checks["stuck-task"] == S.FAILURE and checks["kernel-log"] == S.FAILURE, checks
    assert checks["custody-protocol"] == S.SUCCESS, checks
    assert "# reproduce: aqcheck vm --kernel 7.2 -- run --seed 1" in text
    assert test.counts.failed >= 2 and test.counts.skipped == 1


def test_gate_fuzz_and_selftests_reports_parse(tmp_path):
    gate = {"schema": "aqcheck-gate/1", "verdict": "FAIL", "cases": [
        {"id": "7.2/workload/yield", "section": "kernel", "kernel": "7.2", "verdict": "PASS", "reasons": []},
        {"id": "7.2/mainline/yield", "section": "mainline", "kernel": "7.2", "verdict": "INFO",
         "reasons": ["stuck task: pid 3"]},
        {"id": "7.2/kernel-regression/01-x", "section": "kernel regression", "kernel": "7.2", "verdict": "FAIL",
         "reasons": ["negative control passed"], "rerun": "aqcheck gate --case 01-x"},
        {"id": "host/bad-input", "section": "properties", "kernel": "", "verdict": "PASS", "reasons": []}]}
    kp, test, text = parse(tmp_path, gate)
    S = kp.TestStatus
    groups = {t.name: t for t in test.subtests}
    assert set(groups) == {"7.2 kernel", "7.2 mainline", "7.2 kernel regression", "host properties"}, text
    assert groups["7.2 kernel regression"].status == S.FAILURE
    assert groups["7.2 mainline"].subtests[0].status == S.SKIPPED  # informational: does not gate
    assert groups["host properties"].status == S.SUCCESS

    fuzz = {"schema": "aqcheck-fuzz/1", "verdict": "FAIL",
            "scenarios": [{"name": "s0001", "verdict": "PASS", "failures": []},
                          {"name": "s0002", "verdict": "FAIL", "failures": ["stuck task: pid 9"]}],
            "failures": [{"scenario": "s0002", "class": "stuck-task", "classification": "confirmed",
                          "reproduce": {"fuzz": "aqcheck vm --kernel 7.2 -- fuzz --replay x.json"}}]}
    kp, test, text = parse(tmp_path, fuzz)
    assert [t.status for t in test.subtests] == [kp.TestStatus.SUCCESS, kp.TestStatus.FAILURE], text

    selftests = {"schema": "aqcheck-selftests/1", "verdict": "PASS", "failures": [],
                 "tests": [{"name": "dequeue", "result": "PASS"}, {"name": "maximal", "result": "SKIP"}]}
    kp, test, text = parse(tmp_path, selftests)
    assert [t.status for t in test.subtests] == [kp.TestStatus.SUCCESS, kp.TestStatus.SKIPPED], text


def test_a_report_of_no_known_schema_is_one_line_and_exit_12(tmp_path):
    path = tmp_path / "x.json"
    for content in ('{"schema": "aqcheck-bench/1"}', "not json"):
        path.write_text(content)
        r = subprocess.run([str(AQCHECK), "report", "ktap", str(path), "--out", str(tmp_path / "o.ktap")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 12, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "o.ktap").exists()


def test_the_kselftest_entry_point_skips_where_it_cannot_run(tmp_path):
    """kselftest/aqcheck/run_aqcheck.sh maps aqcheck's exit codes to kselftest's:
    on a kernel without sched_ext (this host) it exits 4, SKIP, saying why."""
    from conftest import ROOT
    shutil_copy = __import__("shutil").copy
    shutil_copy(ROOT / "kselftest/aqcheck/run_aqcheck.sh", tmp_path / "run_aqcheck.sh")
    (tmp_path / "workloads").symlink_to(ROOT / "workloads")
    env = dict(os.environ, AQCHECK=str(AQCHECK))
    if not AQCHECK.exists():
        pytest.skip(f"no aqcheck binary at {AQCHECK}")
    if os.path.exists("/sys/kernel/sched_ext/state"):
        pytest.skip("this host has sched_ext: the entry point would really run")
    r = subprocess.run(["sh", str(tmp_path / "run_aqcheck.sh")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
    assert "no sched_ext" in r.stdout or "must run as root" in r.stdout, r.stdout
    env["AQCHECK"] = str(tmp_path / "nonexistent")
    r = subprocess.run(["sh", str(tmp_path / "run_aqcheck.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 4 and r.stdout.startswith("# SKIP"), r.stdout
