"""Issue 8: performance in the gate.  `aqcheck bench` measures scx_aqmap
against EEVDF in one boot and judges the figures by ci/gate-thresholds.json:
a deliberately slowed scheduler must FAIL them, and a bad thresholds file is
one error line and its own exit code before anything boots."""
import json

import pytest

from conftest import FAIL, ROOT, USAGE, run_aqcheck, require_kernel

BAD_THRESHOLDS = 13
THRESHOLDS = ROOT / "ci/gate-thresholds.json"


def test_a_slowed_scheduler_fails_the_thresholds():
    """Every enqueue busy-waits 3 ms: pipe ping-pong, fork and hackbench,
    which enqueue at every wakeup, fall far below their minimum ratios."""
    require_kernel()
    r = run_aqcheck(["vm", "--timeout", "600", "--", "bench", "--rounds", "1", "--duration", "2", "--no-op-costs",
                     "--enqueue-delay-us", "3000", "--thresholds", str(THRESHOLDS)],
                    timeout=700, name="bench-slowed")
    assert r.rc == FAIL, r.explain()
    assert r.report and r.report["schema"] == "aqcheck-bench/1", r.explain()
    assert r.report["enqueue_delay_us"] == 3000
    failed = [c for c in r.report["checks"] if not c["passed"]]
    assert any(c["metric"] in ("stress-switch", "stress-fork", "hackbench") for c in failed), r.report["checks"]
    assert any("< threshold" in f for f in r.report["failures"]), r.report["failures"]
    # Every config was measured, and the verdict says how to rerun it.
    assert {"eevdf", "aqmap", "aqmap-no-wake-preempt"} <= {c["name"] for c in r.report["configs"]}
    assert "vm --kernel" in r.report["reproduce"] and "--enqueue-delay-us 3000" in r.report["reproduce"]


@pytest.mark.parametrize("text,needle", [
    ("{", "is not JSON"),
    ('{"schema": "aqcheck-thresholds/1", "min_ratio": {"aqmap": {"stress-cpuu": 1}}}', "unknown metric 'stress-cpuu'"),
    ('{"schema": "aqcheck-thresholds/1", "speed": 1}', "unknown key 'speed'"),
])
def test_a_bad_thresholds_file_is_one_error_line(tmp_path, text, needle):
    bad = tmp_path / "thresholds.json"
    bad.write_text(text)
    r = run_aqcheck(["bench", "--thresholds", str(bad)], timeout=60, name="bench-bad", add_json=False)
    assert r.rc == BAD_THRESHOLDS, r.explain()
    lines = r.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aqcheck: error: thresholds file") and needle in lines[0], r.out


def test_a_missing_thresholds_file_is_a_usage_error_before_a_vm_boots(tmp_path):
    r = run_aqcheck(["vm", "--", "bench", "--thresholds", str(tmp_path / "none.json")], timeout=60, name="bench-none",
                    add_json=False)
    assert r.rc == USAGE and "cannot read" in r.out, r.explain()


def test_the_checked_in_thresholds_name_only_measured_figures():
    t = json.loads(THRESHOLDS.read_text())
    assert t["schema"] == "aqcheck-thresholds/1"
    assert set(t["min_ratio"]) <= {"aqmap", "aqmap-no-wake-preempt"}
    assert 0 < t["max_regression"] < 1
