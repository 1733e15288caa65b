"""The CI workflows, checked offline with GitHub's own workflow parser
(ci/validate_workflows.mjs; ci/setup.sh installs the parser), and the shape
of the release gate's workflow: the kernel x shard matrix and the merge job.

Without the parser (or a node >= 20 to run it) the parser tests SKIP with the
reason; with AQCHECK_REQUIRE_KERNEL=1 (as .ci/run sets) they FAIL.
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import REQUIRE_KERNEL, ROOT

VALIDATOR = ROOT / "ci/validate_workflows.mjs"
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.y*ml"))
GATE = ROOT / ".github/workflows/gate.yml"


def validate(*files, env=None):
    node = shutil.which("node")
    assert node, "node is not on PATH"
    p = subprocess.run([node, str(VALIDATOR), *map(str, files)], capture_output=True, text=True, timeout=120,
                       env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def validator():
    """The parser is installed and loads; SKIP (FAIL under AQCHECK_REQUIRE_KERNEL=1) otherwise."""
    reason = None
    if not shutil.which("node"):
        reason = "node is not installed (ci/setup.sh needs the machine's node >= 20 and npm)"
    else:
        rc, out, err = validate("--version")
        if rc != 0:
            reason = (err.strip() or out.strip() or f"validator exit {rc}").splitlines()[-1]
    if reason:
        if REQUIRE_KERNEL:
            pytest.fail(f"workflow validator cannot run and AQCHECK_REQUIRE_KERNEL=1: {reason}")
        pytest.skip(f"WORKFLOW VALIDATION NOT RUN: {reason}")
    return validate


def test_workflows_exist():
    assert GATE in WORKFLOWS, f"no {GATE.relative_to(ROOT)}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates(validator, workflow):
    rc, out, err = validator(workflow)
    assert (rc, out) == (0, ""), f"{workflow.name} does not validate (exit {rc}):\n{out}{err}"
    assert "1 file(s), 0 error(s)" in err, err


def test_validator_without_parser_says_so(tmp_path):
    """Not installed: exit 2 and one line naming ci/setup.sh, never a pass."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    rc, out, err = validate(GATE, env={**os.environ, "AQ_CACHE": str(tmp_path)})
    assert rc == 2 and out == "", (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not installed" in lines[0] and "ci/setup.sh" in lines[0], err


# Negative controls: a check that cannot fail is a defect.  Each control
# changes gate.yml at one place and must be rejected there, naming the problem.
CONTROLS = {
    "unknown-job-key": ("  merge:\n", "  merge:\n    frobnicate: true\n", 1,
                        r"Unexpected value 'frobnicate'"),
    "needs-unknown-job": ("    needs: gate\n", "    needs: nosuchjob\n", 0,
                          r"Job 'merge' depends on unknown job 'nosuchjob'"),
    "expression-syntax": ("${{ needs.gate.result }}", "${{ needs.gate.result == }}", 0,
                          r"Unexpected end of expression"),
    "expression-unclosed": ("${{ needs.gate.result }}", "${{ needs.gate.result }", 0,
                            r"expression is not closed"),
    "expression-unknown-function": ("${{ needs.gate.result }}", "${{ nosuchfn(needs.gate.result) }}", 0,
                                    r"Unrecognized function: 'nosuchfn'"),
    # The validator's own check (the parser accepts this): a job reading the
    # result of a job it does not need gets null.
    "expression-needs-not-needed": ("${{ needs.gate.result }}", "${{ needs.setup.result }}", 0,
                                    r"reads needs\.setup, but 'setup' is not in its needs"),
}


@pytest.mark.parametrize("control", CONTROLS)
def test_negative_control_rejected(validator, tmp_path, control):
    anchor, replacement, line_offset, expected = CONTROLS[control]
    text = GATE.read_text()
    assert text.count(anchor) == 1, f"control {control}: {anchor!r} is not once in gate.yml; update the control"
    line = text[:text.index(anchor)].count("\n") + 1 + line_offset
    bad = tmp_path / f"{control}.yml"
    bad.write_text(text.replace(anchor, replacement))
    rc, out, err = validator(bad)
    assert rc == 1, f"control {control} was not rejected (exit {rc}): the validator cannot see it\n{out}{err}"
    errors = [re.fullmatch(r"(.*):(\d+):(\d+): (.*)", l) for l in out.splitlines()]
    assert all(errors), f"not file:line:col: message lines:\n{out}"
    hits = [m for m in errors if re.search(expected, m[4])]
    assert hits, f"control {control}: no error matching {expected!r}:\n{out}"
    assert all(pathlib.Path(ROOT, m[1]).resolve() == bad for m in errors), out
    assert any(int(m[2]) == line for m in hits), f"control {control}: not reported at line {line}:\n{out}"


# --- the gate workflow's shape -----------------------------------------------

@pytest.fixture(scope="module")
def gate():
    wf = yaml.safe_load(GATE.read_text())
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as true
    return wf


def steps_using(job, action):
    return [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]


def run_text(job):
    return "\n".join(s.get("run", "") for s in job["steps"])


def test_gate_triggers(gate):
    on = gate["on"]
    assert on["push"]["tags"] == ["v*"]
    assert "pull_request" in on
    profile = on["workflow_dispatch"]["inputs"]["profile"]
    assert set(profile["options"]) == {"smoke", "release"} and profile["default"] == "release"
    assert re.search(r"pull_request' && 'smoke'", gate["env"]["PROFILE"]), "pull requests must run the smoke profile"


def test_gate_matrix_covers_kernels_and_shards(gate):
    job = gate["jobs"]["gate"]
    matrix = job["strategy"]["matrix"]
    kernels = matrix["kernel"]
    # Strings: an unquoted 7.10 would be the float 7.1.
    assert all(isinstance(k, str) for k in kernels), f"quote the kernel series: {kernels!r}"
    assert sorted(kernels) == ["7.2", "7.3"], f"matrix kernels {kernels} are not 7.2 and 7.3"
    shards = int(gate["env"]["SHARDS"])
    assert shards >= 1
    assert sorted(matrix["shard"]) == list(range(1, shards + 1)), \
        f"matrix shards {matrix['shard']} are not 1..{shards} each once (env SHARDS)"
    assert job["strategy"]["fail-fast"] is False, "one failing shard must not cancel the others"
    run = run_text(job)
    assert re.search(r'bash ci/gate\.sh --profile "\$PROFILE" --kernels "\$\{\{ matrix\.kernel \}\}"', run), run
    assert re.search(r'--shard "\$\{\{ matrix\.shard \}\}/\$SHARDS"', run), run
    assert re.search(r'--accel "\$\{\{ steps\.accel\.outputs\.accel \}\}"', run), run
    assert 'bash ci/setup.sh --kernel "${{ matrix.kernel }}"' in run


def test_gate_cells(gate):
    job = gate["jobs"]["gate"]
    assert job["container"]["image"] == "debian:bookworm"
    # --device /dev/kvm stops docker on a runner without /dev/kvm.
    assert "--device" not in job["container"].get("options", "")
    accel = [s for s in job["steps"] if s.get("id") == "accel"]
    assert accel and "/dev/kvm" in accel[0]["run"] and "tcg" in accel[0]["run"]
    cache, = steps_using(job, "actions/cache")
    assert "matrix.kernel" in cache["with"]["key"] and "/var/cache/aqcheck" in gate["env"]["AQ_CACHE"]
    upload, = steps_using(job, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert "${{ matrix.kernel }}" in upload["with"]["name"] and "${{ matrix.shard }}" in upload["with"]["name"]


def test_merge_job(gate):
    merge = gate["jobs"]["merge"]
    needs = merge["needs"] if isinstance(merge["needs"], list) else [merge["needs"]]
    assert "gate" in needs and merge["if"] == "always()"
    download, = steps_using(merge, "actions/download-artifact")
    upload_name = steps_using(gate["jobs"]["gate"], "actions/upload-artifact")[0]["with"]["name"]
    prefix = download["with"]["pattern"].rstrip("*")
    assert upload_name.startswith(prefix), f"download pattern {download['with']['pattern']} misses {upload_name}"
    final_upload, = steps_using(merge, "actions/upload-artifact")
    assert not final_upload["with"]["name"].startswith(prefix), "the merged report must not match the shard pattern"
    run = run_text(merge)
    assert "report merge --out" in run and "GITHUB_STEP_SUMMARY" in run
    assert "needs.gate.result" in str(merge["steps"]), "a shard without a verdict must fail the merge"


def test_every_job_has_a_timeout(gate):
    for name, job in gate["jobs"].items():
        assert "timeout-minutes" in job, f"job {name} has no timeout-minutes"
