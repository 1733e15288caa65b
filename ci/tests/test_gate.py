"""Issue 8: the release gate.  Cases as data, shards that cover every case
once, negative controls that must FAIL, and shard reports merged into one
verdict.  The smoke profile boots the kernel (three VMs per kernel)."""
import json
import subprocess

import pytest

from conftest import AQCHECK, CACHE, FAIL, KERNEL, OUT, PASS, USAGE, require_kernel

BAD_REPORT = 12


def aqcheck(*args, timeout=60):
    p = subprocess.run([str(AQCHECK), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def listed(*args):
    rc, out, err = aqcheck("gate", "--list", *args)
    assert rc == PASS, err
    return out.split()


@pytest.mark.parametrize("profile", ["smoke", "release"])
def test_shards_cover_every_case_once(profile):
    every = listed("--profile", profile, "--kernels", "7.2,7.3")
    assert len(every) == len(set(every)) and every == sorted(every)
    for n in range(1, 6):
        parts = [listed("--profile", profile, "--kernels", "7.2,7.3", "--shard", f"{i}/{n}") for i in range(1, n + 1)]
        union = [c for p in parts for c in p]
        assert sorted(union) == every, f"n={n}"
        assert max(map(len, parts)) - min(map(len, parts)) <= 1, f"n={n}"


@pytest.mark.parametrize("args,needle", [
    (("--shard", "0/2"), "bad --shard"),
    (("--shard", "3/2"), "bad --shard"),
    (("--kernels", "7.x"), "bad --kernels"),
    (("--case", "no-such-case"), "no gate case matches --case no-such-case"),
])
def test_bad_gate_arguments(args, needle):
    rc, out, err = aqcheck("gate", *args)
    assert rc == USAGE and needle in err and err.count("\n") == 1, err


def run_gate(name, *args, timeout=1800):
    require_kernel()
    out = OUT / name
    p = subprocess.run([str(AQCHECK), "gate", "--profile", "smoke", "--kernels", KERNEL, "--cache", str(CACHE),
                        "--out", str(out), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    (OUT / f"{name}.out.log").write_text(p.stdout)
    report = json.loads((out / "gate.json").read_text()) if (out / "gate.json").exists() else None
    return p.returncode, p.stdout, report, out


def test_smoke_gate_passes_and_its_negative_control_is_caught():
    rc, stdout, report, out = run_gate("gate-smoke")
    tail = "\n".join(stdout.splitlines()[-30:])
    assert rc == PASS, tail
    assert report["verdict"] == "PASS" and report["profile"] == "smoke"
    cases = {c["id"]: c for c in report["cases"]}
    assert set(cases) == {f"{KERNEL}/workload/cpu-baseline", f"{KERNEL}/negative/lazy-removal-affinity-churn",
                          f"{KERNEL}/mainline/cpu-baseline"}
    # Mainline scx_qmap: built, loaded, a verdict; a FAIL would be INFO, not gating.
    mainline = cases[f"{KERNEL}/mainline/cpu-baseline"]
    assert (mainline["verdict"], mainline["exit"]) in (("PASS", PASS), ("INFO", FAIL)), mainline
    neg = cases[f"{KERNEL}/negative/lazy-removal-affinity-churn"]
    assert neg["verdict"] == "PASS" and neg["exit"] == FAIL
    assert neg["reasons"][0].startswith("dequeue did not remove: pid "), neg
    assert all(c["kernel_release"].startswith(KERNEL + ".") for c in cases.values()), cases
    md = (out / "gate.md").read_text()
    assert "# aqcheck gate: PASS" in md and f"## Kernel {KERNEL}" in md and "## Negative controls" in md
    assert (out / "gate.junit.xml").read_text().count("<testcase ") == 3
    # One progress line per case as it ends.
    assert len([l for l in stdout.splitlines()
                if l.startswith("gate [") and (" PASS (" in l or " INFO (" in l)]) == 3, tail


def test_a_negative_control_that_passes_fails_the_gate():
    # The normal build in place of the lazy-removal one: the check has nothing to catch.
    rc, stdout, report, out = run_gate("gate-blind", "--case", "/negative/", "--negative-variant", "normal")
    tail = "\n".join(stdout.splitlines()[-30:])
    assert rc == FAIL, tail
    (case,) = report["cases"]
    assert case["verdict"] == "FAIL" and case["exit"] == PASS
    assert case["reasons"] == ["negative control passed: the suite can no longer see a dequeue that leaves the "
                               "task's entry on its FIFO (stale-entry rule)"], case
    assert "--variant normal" in case["rerun"] and case["rerun"].startswith(str(AQCHECK))
    md = (out / "gate.md").read_text()
    assert "# aqcheck gate: FAIL" in md and "## Failures" in md and case["rerun"] in md


def shard_report(tmp_path, name, kernel, shard, verdicts):
    r = {"schema": "aqcheck-gate/1", "verdict": "PASS", "profile": "release", "kernels": [kernel],
         "shards": [shard], "command": "gate", "elapsed_s": 1.0, "problems": [],
         "cases": [{"id": i, "section": "kernel", "kernel": kernel, "what": "", "verdict": v, "exit": 0,
                    "wall_s": 1.0, "reasons": [] if v == "PASS" else ["why"], "rerun": f"rerun {i}"}
                   for i, v in verdicts.items()]}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(r))
    return str(path)


def test_merge_joins_shards_and_needs_every_one(tmp_path):
    a = shard_report(tmp_path, "a", "7.2", "1/2", {"7.2/a": "PASS"})
    b = shard_report(tmp_path, "b", "7.2", "2/2", {"7.2/b": "PASS"})
    rc, out, err = aqcheck("report", "merge", "--out", str(tmp_path / "m"), a, b)
    assert rc == PASS, out + err
    merged = json.loads((tmp_path / "m" / "gate.json").read_text())
    assert merged["verdict"] == "PASS" and [c["id"] for c in merged["cases"]] == ["7.2/a", "7.2/b"]
    rc, out, err = aqcheck("report", "merge", "--out", str(tmp_path / "m1"), a)
    assert rc == FAIL and "shard 2/2 is missing" in out, out + err
    c = shard_report(tmp_path, "c", "7.2", "2/2", {"7.2/b": "FAIL"})
    rc, out, err = aqcheck("report", "merge", "--out", str(tmp_path / "m2"), a, c)
    assert rc == FAIL and "rerun 7.2/b" in out, out + err
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "aqcheck-gate/1"}')
    rc, out, err = aqcheck("report", "merge", "--out", str(tmp_path / "m3"), a, str(bad))
    assert rc == BAD_REPORT and err.startswith("aqcheck: error: bad gate report: ") and err.count("\n") == 1, err
    assert not (tmp_path / "m3").exists()


def test_compare_flags_a_regression(tmp_path):
    before = shard_report(tmp_path, "before", "7.2", "1/1", {"7.2/a": "PASS", "7.2/b": "PASS"})
    same = shard_report(tmp_path, "same", "7.2", "1/1", {"7.2/a": "PASS", "7.2/b": "PASS"})
    worse = shard_report(tmp_path, "worse", "7.2", "1/1", {"7.2/a": "PASS", "7.2/b": "FAIL"})
    assert aqcheck("report", "compare", before, same)[0] == PASS
    rc, out, _ = aqcheck("report", "compare", before, worse)
    assert rc == FAIL and "| 7.2/b | PASS | FAIL |" in out and "Regressed" in out, out
