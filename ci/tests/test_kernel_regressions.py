"""kernels/regressions/: the known-bad kernels' patches.  Every header parses
(ci/kernel_regressions.py), the set is big enough, and every patch applies
cleanly (no fuzz, no offset) to the kernel source it was written against,
Debian's linux-source-7.2 as ci/kernel-source.sh unpacks it into
$AQ_CACHE/src/7.2.  Without that source the apply test is SKIPPED with the
reason, and FAILS under CI=true or AQCHECK_REQUIRE_KERNEL=1 (conftest.py's
convention for missing prerequisites).  No kernel is built here."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import CACHE, REQUIRE_KERNEL, ROOT, WORKLOADS_DIR, workload_names

sys.path.insert(0, str(ROOT / "ci"))
import kernel_regressions as kr  # noqa: E402

REGRESSIONS = ROOT / "kernels" / "regressions"
SERIES = "7.2"  # the patches are written against linux-source-7.2 (7.2.13)
SOURCE = CACHE / "src" / SERIES
MIN_PATCHES = 8
MIN_REVERTS = 3
PATCHES = sorted(p.name for p in REGRESSIONS.glob("*.patch"))
MUST_RUN = REQUIRE_KERNEL or os.environ.get("CI") == "true"


def require_source():
    reason = None
    if not (SOURCE / "kernel" / "sched" / "ext" / "ext.c").exists():
        reason = (f"no sched_ext kernel source in {SOURCE} (ci/setup.sh or ci/selftests.sh --kernel {SERIES} "
                  "unpacks linux-source-7.2 there)")
    elif not shutil.which("patch"):
        reason = "patch(1) is not installed"
    if reason:
        if MUST_RUN:
            pytest.fail(f"kernel regressions cannot be checked under CI=true or AQCHECK_REQUIRE_KERNEL=1: {reason}")
        pytest.skip(f"KERNEL REGRESSIONS NOT APPLIED: {reason}")


def source_version():
    stamp = SOURCE / ".aqcheck-source"
    return " ".join(stamp.read_text().split()[:2]) if stamp.exists() else "(no .aqcheck-source stamp)"


# --- the headers ---------------------------------------------------------------

def test_every_header_parses_and_the_set_is_big_enough():
    entries = kr.load(REGRESSIONS)
    assert len(entries) == len(PATCHES)
    assert len(entries) >= MIN_PATCHES, f"{len(entries)} regressions, want at least {MIN_PATCHES}"
    reverts = [e["id"] for e in entries if e["origin"] == "revert"]
    assert len(reverts) >= MIN_REVERTS, f"reverts of real fixes: {reverts}, want at least {MIN_REVERTS}"
    for e in entries:
        for key in kr.REQUIRED:
            assert e[key.lower()].strip(), f"{e['id']}: {key} is empty"
        assert e["origin"] in ("revert", "seeded"), e["id"]
        assert e["expect"].strip(), e["id"]
        assert e["scenario"].startswith(("run ", "fuzz ")), f"{e['id']}: Scenario {e['scenario']!r}"
        if e["origin"] == "revert":
            assert e["fix"].startswith("sched_ext: "), f"{e['id']}: Fix {e['fix']!r}"
        else:
            assert e["fix"] == "none", f"{e['id']}: Fix {e['fix']!r}"


def test_scenarios_name_existing_workloads():
    names = set(workload_names())
    for e in kr.load(REGRESSIONS):
        words = e["scenario"].split()
        for i, w in enumerate(words[:-1]):
            if w == "--workload":
                assert words[i + 1] in names or words[i + 1] == "all", (
                    f"{e['id']}: no workload {words[i + 1]!r} in {WORKLOADS_DIR.relative_to(ROOT)}")


def test_reason_prefixes_follow_the_failure_classifier():
    """Expect is checked against kernel_regressions.REASON_PREFIXES, which
    must stay the prefixes of the classifier's table (kFailureClasses)."""
    table = (ROOT / "harness/fuzz/shrink.hpp").read_text()
    body = table[table.index("kFailureClasses[]"):]
    body = body[:body.index("};")]
    classifier = re.findall(r'\{"([^"]+)", "[^"]*", "[^"]+"\}', body)
    assert classifier, "no rows found in kFailureClasses"
    for p in kr.REASON_PREFIXES:
        assert p in classifier, f"{p!r} is not a prefix of harness/fuzz/shrink.hpp's kFailureClasses"
    for c in classifier:
        assert any(c.startswith(p) for p in kr.REASON_PREFIXES), f"kFailureClasses has {c!r}: add it"


def test_script_prints_one_tsv_line_per_regression():
    out = subprocess.run([sys.executable, str(ROOT / "ci/kernel_regressions.py")], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert [line.split("\t")[0] for line in out] == [pathlib.Path(p).stem for p in PATCHES]
    for line in out:
        ident, origin, scenario, expect = line.split("\t")
        assert origin in ("revert", "seeded") and scenario.startswith(("run ", "fuzz ")) and expect, line
    wide = subprocess.run([sys.executable, str(ROOT / "ci/kernel_regressions.py"), "--fields", "id,scheduler,catch"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert all(len(line.split("\t")) == 3 for line in wide), wide


GOOD_HEADER = {"Title": "t", "Origin": "seeded", "Fix": "none", "Symptom": "s",
               "Scenario": "run --workload cpu-baseline", "Expect": "stuck task: pid", "Check": "wait audit"}
DIFF = "--- a/kernel/sched/ext/ext.c\n+++ b/kernel/sched/ext/ext.c\n@@ -1 +1 @@\n-a\n+b\n"


def write(tmp_path, name="01-x.patch", header=None, extra="", diff=DIFF):
    h = dict(GOOD_HEADER if header is None else header)
    text = "".join(f"{k}: {v}\n" for k, v in h.items()) + extra + "---\n" + diff
    (tmp_path / name).write_text(text)


@pytest.mark.parametrize("case, why", [
    ({"drop": "Expect"}, "missing key(s): Expect"),
    ({"set": ("Origin", "mutant")}, "Origin must be one of"),
    ({"set": ("Scenario", "--workload cpu-baseline")}, "Scenario must be"),
    ({"set": ("Expect", "it breaks")}, "starts with none of aqcheck's failure reasons"),
    ({"set": ("Fix", "sched_ext: Fix it")}, "a seeded regression's Fix is 'none'"),
    ({"extra": "Expects: x\n"}, "unknown key 'Expects'"),
    ({"extra": "Note:\n"}, "Note is empty"),
    ({"name": "1-x.patch"}, "NN-short-name.patch"),
    ({"diff": DIFF.replace("kernel/sched/ext/ext.c", "kernel/sched/core.c")}, "outside the sched_ext core"),
    ({"diff": "no diff here\n"}, "no unified diff"),
])
def test_malformed_headers_are_refused(tmp_path, case, why):
    header = dict(GOOD_HEADER)
    if "drop" in case:
        del header[case["drop"]]
    if "set" in case:
        header[case["set"][0]] = case["set"][1]
    write(tmp_path, name=case.get("name", "01-x.patch"), header=header, extra=case.get("extra", ""),
          diff=case.get("diff", DIFF))
    with pytest.raises(kr.FormatError, match=re.escape(why)):
        kr.load(tmp_path)


def test_a_good_header_loads_with_defaults(tmp_path):
    write(tmp_path)
    (e,) = kr.load(tmp_path)
    assert (e["id"], e["scheduler"], e["catch"], e["files"]) == ("01-x", "aqmap", "strong", ["kernel/sched/ext/ext.c"])
    write(tmp_path, name="01-y.patch")
    with pytest.raises(kr.FormatError, match="number 01 already used"):
        kr.load(tmp_path)


# --- the patches against the kernel source --------------------------------------

@pytest.mark.parametrize("name", PATCHES)
def test_patch_applies_cleanly_to_the_kernel_source(name):
    require_source()
    path = REGRESSIONS / name
    p = subprocess.run(["patch", "-p1", "--dry-run", "--batch", "--forward", "--fuzz=0", "-d", str(SOURCE),
                        "-i", str(path)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{name} does not apply to {SOURCE} ({source_version()}), exit {p.returncode}:\n{out}"
    for word in ("offset", "fuzz", "FAILED", "Reversed", "ignored", "reject", "malformed"):
        assert word not in out, f"{name} applies to {SOURCE} ({source_version()}) only with {word!r}:\n{out}"


def test_there_are_patches_to_apply():
    assert PATCHES, f"no *.patch in {REGRESSIONS.relative_to(ROOT)}"


def test_readme_lists_every_regression():
    readme = (REGRESSIONS / "README.md").read_text()
    missing = [pathlib.Path(p).stem for p in PATCHES if f"`{pathlib.Path(p).stem}`" not in readme]
    assert not missing, f"kernels/regressions/README.md's table lacks {missing}"


# --- the matrix's judge (ci/kernel-regressions.sh's summary) --------------------

def _run(d, name, exit_code, failures, classes, first=None):
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.exit").write_text(f"{exit_code}\n")
    case = {"failures": failures, "failure_classes": classes, "first_failure_s": -1 if first is None else first,
            "host": {"stalls": 0}}
    (d / f"{name}.json").write_text(json.dumps({"kernel": "7.2.13-aq", "seed": 1, "cases": [case]}))


def test_the_matrix_judges_catches_survivors_and_controls(tmp_path):
    rows = [("01-a", "revert", "A", "run --workload cpu-baseline", "lost task:", "strong"),
            ("02-b", "seeded", "B", "run --workload cpu-baseline", "custody protocol violated:", "strong"),
            ("03-c", "seeded", "C", "run --workload cpu-baseline", "kernel log:", "weak"),
            ("04-d", "revert", "D", "run --workload cpu-baseline", "stuck task:", "strong")]
    (tmp_path / "regressions.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    (tmp_path / "control").mkdir()
    (tmp_path / "control/scenarios.tsv").write_text("k1\trun --workload cpu-baseline\n")
    _run(tmp_path / "control", "k1", 0, [], [])
    _run(tmp_path / "01-a", "run-1", 1, ["lost task: pid 7"], ["stuck-task"], 3.5)
    _run(tmp_path / "02-b", "run-1", 1, ["stuck task: pid 9"], ["stuck-task"], 2.0)
    _run(tmp_path / "03-c", "run-1", 1, ["kernel log: WARNING x"], ["kernel-watchdog-stall"], 31.0)
    _run(tmp_path / "04-d", "run-1", 0, [], [])
    for r in rows:
        (tmp_path / r[0] / "build.json").write_text(json.dumps({"build_seconds": 60, "version": "v"}))
    assert kr.summarize(tmp_path) == 1
    m = json.loads((tmp_path / "matrix.json").read_text())
    verdicts = {r["id"]: r["verdict"] for r in m["regressions"]}
    assert verdicts == {"01-a": "caught", "02-b": "caught by another check", "03-c": "weak catch",
                        "04-d": "SURVIVED"}, verdicts
    assert m["regressions"][0]["seconds_to_catch"] == 3.5
    assert "SURVIVED" in (tmp_path / "matrix.md").read_text()
    # Every regression caught by its check, every control passed: PASS; a failed control makes it FAIL.
    for rid in ("02-b", "03-c", "04-d"):
        expect = dict((r[0], r[4]) for r in rows)[rid]
        _run(tmp_path / rid, "run-1", 1, [expect + " pid 1"], ["stuck-task"], 1.0)
    assert kr.summarize(tmp_path) == 0
    _run(tmp_path / "control", "k1", 1, ["stress-ng failed: exit status 2"], ["stress-ng"])
    assert kr.summarize(tmp_path) == 1
