"""ci/flake_table.py: failures of repeated runs folded per test and reason."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def junit(path, failures):
    cases = []
    for name in ("test_a", "test_b"):
        why = failures.get(name)
        body = f'<failure message="{why}">trace</failure>' if why else ""
        cases.append(f'<testcase classname="test_kernel_tier" name="{name}">{body}</testcase>')
    path.write_text(f'<testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>')
    return str(path)


def test_same_reason_with_other_numbers_is_one_row(tmp_path):
    runs = [junit(tmp_path / "1.xml", {"test_a": "stuck task: pid 812 waited 4100 ms"}),
            junit(tmp_path / "2.xml", {"test_a": "stuck task: pid 97 waited 4350 ms"}),
            junit(tmp_path / "3.xml", {})]
    out = subprocess.run([sys.executable, str(ROOT / "ci/flake_table.py"), *runs], capture_output=True,
                         text=True, check=True).stdout
    assert "| test_kernel_tier::test_a | failure | stuck task: pid N waited N ms | 2/3 |" in out, out
    assert "test_b" not in out.split("\n", 2)[2], out


def test_no_failure_says_so(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "ci/flake_table.py"), junit(tmp_path / "1.xml", {})],
                         capture_output=True, text=True, check=True).stdout
    assert "No failure in 1 run(s) of 2 test(s)." in out
