"""`aqcheck fuzz`: a short kernel session, and bad input rejected before
anything boots (one error line, its own exit code, no summary)."""
import json
import pathlib
import shlex
import shutil
import subprocess

import pytest

from conftest import AQCHECK, BAD_SPEC, OUT, PASS, USAGE, require_kernel, run_aqcheck

COVERAGE = ("removals", "sched_changes", "fifo_moves", "fallbacks", "hotplug")


@pytest.fixture
def fresh_out():
    def make(name):
        d = OUT / name
        shutil.rmtree(d, ignore_errors=True)
        return d
    return make


def aqcheck(*args, timeout=60):
    p = subprocess.run([str(AQCHECK), *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def assert_one_error(rc, err, code, *needles):
    lines = [l for l in err.splitlines() if l.startswith("aqcheck: error:")]
    assert rc == code, (rc, err)
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_fuzz_smoke_in_a_vm(fresh_out):
    """90 s of scenarios (5-20 s each) in one boot: PASS, at least 3
    scenarios, a spec per scenario, and the session's coverage in the JSON
    summary.  The release gate fuzzes for 10 minutes (7.2/fuzz)."""
    require_kernel()
    out = fresh_out("fuzz-smoke")
    r = run_aqcheck(["vm", "--timeout", "600", "--", "fuzz", "--budget", "90s", "--seed", "1", "--out", str(out)],
                    timeout=700, name="fuzz-smoke", add_json=False)
    assert r.rc == PASS, r.explain()
    progress = [l for l in r.out.splitlines() if l.startswith("fuzz [")]
    assert len(progress) >= 3, r.explain()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "aqcheck-fuzz/1"
    assert summary["seed"] == 1 and summary["budget_s"] == 90
    assert summary["scenarios_run"] >= 3 and summary["failed"] == 0, summary["failures"]
    for label in COVERAGE:
        assert {"total", "scenarios", "counters"} <= summary["coverage"][label].keys()
    assert summary["coverage"]["removals"]["total"] > 0
    assert (out / "summary.md").read_text().startswith("# aqcheck fuzz: PASS")
    for s in summary["scenarios"]:
        spec = pathlib.Path(s["spec"])
        assert spec.parent.parent == out, spec  # a host path, not the guest's /out
        assert json.loads(spec.read_text())["schema"] == "aqcheck-fuzz-spec/1"
        assert pathlib.Path(s["report"]).exists()


@pytest.mark.parametrize("budget", ["0", "10x", "5m5m", "1.5h"])
def test_bad_budget(budget, fresh_out):
    out = fresh_out("fuzz-bad-budget")
    for prefix in ([], ["vm", "--"]):
        rc, _, err = aqcheck(*prefix, "fuzz", "--budget", budget, "--out", str(out))
        assert_one_error(rc, err, USAGE, "--budget")
        assert not out.exists()


def spec_text(**extra):
    spec = {"schema": "aqcheck-fuzz-spec/1", "seed": 3, "duration_s": 5,
            "stressors": [{"name": "cpu", "instances": 1, "method": "int64"}]}
    spec.update(extra)
    return json.dumps(spec)


@pytest.mark.parametrize("case,text,needle", [
    ("unknown-key", spec_text(colour="blue"), "unknown key 'colour'"),
    ("malformed", '{"schema": "aqcheck-fuzz-spec/1", "stressors": [', "not JSON"),
    ("out-of-range", spec_text(duration_s=0), "out of range"),
    ("unknown-stressor", spec_text(stressors=[{"name": "no-such-stressor", "instances": 1}]), "stress-ng rejects"),
])
def test_bad_spec(case, text, needle, tmp_path, fresh_out):
    spec = tmp_path / f"{case}.spec.json"
    spec.write_text(text)
    out = fresh_out("fuzz-bad-spec")
    for prefix in ([], ["vm", "--"]):  # the host checks the spec before a VM boots
        rc, stdout, err = aqcheck(*prefix, "fuzz", "--replay", str(spec), "--out", str(out))
        assert_one_error(rc, err, BAD_SPEC, str(spec), needle)
        assert "qemu" not in stdout + err
        assert not out.exists()


def test_unreadable_spec(tmp_path):
    for path in (tmp_path / "missing.json", tmp_path):
        rc, _, err = aqcheck("fuzz", "--replay", str(path))
        assert_one_error(rc, err, BAD_SPEC, "cannot read the spec")


def test_fuzz_failure_is_confirmed_shrunk_and_reruns_as_printed(tmp_path, fresh_out):
    """The FAIL path on a real kernel: the lost-task build under fault
    injection FAILs its scenario; fuzz reruns it twice (reproducible), shrinks
    it (never bigger than what failed), and writes a
    minimal spec, a .job and two host commands; the `run` command, executed
    as printed, FAILs for the same reason."""
    require_kernel()
    spec = tmp_path / "lost.spec.json"
    spec.write_text(json.dumps({
        "schema": "aqcheck-fuzz-spec/1", "seed": 11, "duration_s": 8, "audit_interval_ms": 20,
        "stressors": [{"name": "cpu", "instances": 2, "method": "int64"},
                      {"name": "yield", "instances": 1}],
        "fail_lock_every": 7}))
    out = fresh_out("fuzz-lost")
    r = run_aqcheck(["vm", "--timeout", "900", "--", "fuzz", "--replay", str(spec), "--variant", "lost-task",
                     "--out", str(out)], timeout=960, name="fuzz-lost", add_json=False)
    assert r.rc == 1, r.explain()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == 1, summary
    f = summary["failures"][0]
    assert f["class"] == "stuck-task", f
    assert f["classification"] == "reproducible", f
    assert any(x.startswith("lost task: pid ") for x in f["reasons"]), f["reasons"]
    minimal = json.loads(pathlib.Path(f["minimal_spec"]).read_text())
    # Never bigger than what failed.  How far it shrinks is chance: the
    # lost-task build also drops a task on a real lock failure, so a run
    # without fault injection can fail too (a fresh clone saw it once), and the
    # shrinker keeps a step on one failing run.
    assert len(minimal["stressors"]) <= 2 and minimal["duration_s"] <= 8, minimal
    assert minimal["fail_lock_every"] in (0, 7) and f["shrink"]["runs"] >= 1, (minimal, f["shrink"])
    assert pathlib.Path(f["minimal_job"]).read_text().startswith("# purpose:")
    exe = str(AQCHECK.resolve())
    assert f["reproduce"]["fuzz"].startswith(f"{exe} vm --kernel ") and "--variant lost-task" in f["reproduce"]["fuzz"]
    assert f["reproduce"]["run"].startswith(f"{exe} vm --kernel ") and "--variant lost-task" in f["reproduce"]["run"]
    # The `run` form, as printed (plus where to keep its console), reproduces it.
    cmd = shlex.split(f["reproduce"]["run"].split("#")[0])
    console = OUT / "fuzz-lost-rerun.console.log"
    rerun = subprocess.run([*cmd[:2], "--console", str(console), *cmd[2:]], capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL)
    if minimal["fail_lock_every"]:
        assert rerun.returncode == 1, rerun.stdout[-3000:] + rerun.stderr[-2000:]
        assert "lost task: pid " in rerun.stdout, rerun.stdout[-3000:]
    else:  # shrunk past fault injection: the command still runs as printed, to a verdict
        assert rerun.returncode in (0, 1) and "aqcheck verdict: " in rerun.stdout, rerun.stdout[-3000:]
