"""Issue 24, section 3: the HTML reports, opened in a real browser.

`aqcheck report html` renders a run, a gate and a fuzz summary report; Debian's
headless Chromium opens each page from disk (no network), dumps its DOM and
takes a screenshot (OUT/html/*.png). A page passes when it recorded no script
error, its drawing script finished, and every chart the report calls for drew:
its canvas placed data points and has ink (charts.js leaves both as data-*
attributes). The chart ids expected are worked out here from the JSON, not
taken from the page. Negative tests show the check fails: a page with a script
error, one without the charting library, and one whose chart has no data.

The run report is a real one: the kernel tier's matrix report when that ran
first (conftest orders this module last), else one short VM run, whose own
`--markdown` page is checked too. Gate and fuzz use small reports written here
to their schema, plus the real ones the gate and fuzz tests left, if any.

Without Chromium these tests SKIP loudly; with AQCHECK_REQUIRE_KERNEL=1 (as
.ci/run sets) they FAIL. ci/browser-setup.sh installs it.
"""
import html.parser
import json
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from conftest import AQCHECK, OUT, PASS, REQUIRE_KERNEL, ROOT, run_aqcheck, require_kernel

BAD_REPORT = 12  # harness/common/exit_codes.hpp
SHOTS = OUT / "html"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Enough virtual time for the page's scripts; virtual, so a slow machine waits longer, never fails sooner.
VIRTUAL_TIME_MS = 5000


# --- the browser --------------------------------------------------------------

def chromium_binary():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium():
    binary = chromium_binary()
    if not binary:
        reason = "chromium is not installed (run ci/browser-setup.sh: Debian's chromium and chromium-driver)"
        if REQUIRE_KERNEL:
            pytest.fail(f"browser test cannot run and AQCHECK_REQUIRE_KERNEL=1: {reason}")
        pytest.skip(f"HTML BROWSER TEST NOT RUN: {reason}")
    return binary


def run_chromium(binary, page, *args):
    with tempfile.TemporaryDirectory(prefix="aq-chromium-") as profile:
        p = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                           capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"chromium exit {p.returncode} on {page}:\n{p.stderr[-3000:]}"
    return p.stdout


class PageState(html.parser.HTMLParser):
    """The markers a page left in its DOM: <html data-script-errors>, the
    <body> data-* attributes, and each canvas's attributes by id."""

    def __init__(self, dom):
        super().__init__()
        self.html, self.body, self.canvases = {}, {}, {}
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html = a
        elif tag == "body":
            self.body = a
        elif tag == "canvas" and "id" in a:
            self.canvases[a["id"]] = a

    def script_errors(self):
        if "data-script-errors" not in self.html:
            return ["the page has no data-script-errors marker: its error catcher never ran"]
        return json.loads(self.html["data-script-errors"])


def page_problems(binary, page, expected_ids):
    """Everything wrong with the page as Chromium shows it (empty: it is fine)."""
    state = PageState(run_chromium(binary, page, f"--virtual-time-budget={VIRTUAL_TIME_MS}", "--dump-dom"))
    problems = [f"script error: {e}" for e in state.script_errors()]
    if state.body.get("data-render-done") != "1":
        problems.append("charts.js did not finish (no data-render-done)")
    drawn = state.body.get("data-chart-ids", "").split()
    for chart in expected_ids:
        canvas = state.canvases.get(chart)
        if canvas is None:
            problems.append(f"{chart}: no canvas")
            continue
        if int(canvas.get("data-points", "0")) == 0:
            problems.append(f"{chart}: placed no data points")
        if int(canvas.get("data-inked-pixels", "0")) == 0:
            problems.append(f"{chart}: blank canvas")
        if chart not in drawn:
            problems.append(f"{chart}: not counted as drawn")
    if sorted(drawn) != sorted(expected_ids):
        problems.append(f"charts drawn {sorted(drawn)}, expected {sorted(expected_ids)}")
    if state.body.get("data-all-charts-drawn") != "1":
        problems.append("the page says not every chart drew (data-all-charts-drawn)")
    if state.body.get("data-charts-drawn") != str(len(expected_ids)):
        problems.append(f"data-charts-drawn={state.body.get('data-charts-drawn')}, expected {len(expected_ids)}")
    return problems


def screenshot(binary, page, name, height):
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = SHOTS / f"{name}.png"
    png.unlink(missing_ok=True)
    run_chromium(binary, page, f"--virtual-time-budget={VIRTUAL_TIME_MS}", f"--screenshot={png}",
                 f"--window-size=1280,{height}", "--hide-scrollbars")
    assert png.exists() and png.stat().st_size > 10_000, f"no screenshot of {page}"
    return png


# --- pages from reports ---------------------------------------------------------

def render(report_path, out=None):
    out = out or report_path.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)  # the first page of a fresh run makes OUT/html
    out.unlink(missing_ok=True)
    p = subprocess.run([str(AQCHECK), "report", "html", str(report_path), "--out", str(out)], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == PASS and out.exists(), f"report html exit {p.returncode}: {p.stderr}"
    return out


def write_report(name, report):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=1))
    return path


def run_chart_ids(report):
    ids = []
    for i, case in enumerate(report["cases"]):
        if case.get("series", {}).get("t_s"):
            ids += [f"case-{i}-fifo", f"case-{i}-waits"]
    return ids


def gate_chart_ids(report):
    ids = []
    for k, kernel in enumerate(sorted(report.get("performance", {}))):
        metrics = report["performance"][kernel]["metrics"]
        configs = {config for m in metrics.values() for config in m.get("ratio", {})}
        ids += [f"perf-{k}-{c}" for c in range(len(configs))]
    return ids


def fuzz_chart_ids(summary):
    return [f"coverage-{i}" for i in range(len(summary["coverage"]))] if summary["scenarios"] else []


def assert_page_draws(binary, page, expected_ids, name, height=2000):
    problems = page_problems(binary, page, expected_ids)
    png = screenshot(binary, page, name, height)
    assert problems == [], f"{page} (screenshot {png}):\n" + "\n".join(problems)


# --- run --------------------------------------------------------------------------

def fresh_matrix_report():
    """The kernel tier's matrix report (its batch boot's, or a run of its own),
    if this aqcheck wrote it with time series."""
    for path in (OUT / "boot-matrix" / "matrix.json", OUT / "matrix.json"):
        if not path.exists() or not AQCHECK.exists() or path.stat().st_mtime < AQCHECK.stat().st_mtime:
            continue
        report = json.loads(path.read_text())
        ran = [c for c in report["cases"] if c["verdict"] != "SKIPPED"]
        if ran and all("series" in c for c in ran):
            return path
    return None


def test_run_report_charts_draw(chromium):
    page_from_run = None
    report_path = fresh_matrix_report()
    if report_path is None:
        require_kernel()
        md = OUT / "html-run.md"
        for p in (md, md.with_suffix(".html")):
            p.unlink(missing_ok=True)
        r = run_aqcheck(["vm", "--timeout", "400", "--", "run", "--workload", "cpu-baseline", "--duration", "5",
                         "--markdown", str(md)], timeout=460, name="html-run")
        assert r.rc == PASS, r.explain()
        report_path = r.json_path
        page_from_run = md.with_suffix(".html")
        assert page_from_run.exists(), "`run --markdown F.md` in a VM wrote no F.html beside it"
    report = json.loads(report_path.read_text())
    expected = run_chart_ids(report)
    ran = [c for c in report["cases"] if c["verdict"] != "SKIPPED"]
    assert len(expected) == 2 * len(ran), "every case that ran has a time series"
    for c in ran:
        s = c["series"]
        assert 0 < len(s["t_s"]) <= 500 and all(len(col) == len(s["t_s"]) for col in s["fifo_len"]), c["name"]
    page = render(report_path, SHOTS / "run.html")
    assert_page_draws(chromium, page, expected, "run", height=700 + 440 * len(report["cases"]))
    if page_from_run:
        assert page_problems(chromium, page_from_run, expected) == []


# --- gate --------------------------------------------------------------------------

def gate_fixture():
    """A release gate's report on two kernels, with a performance case each: the
    real thresholds of ci/gate-thresholds.json, and ratios around them (one below)."""
    thresholds = json.loads((ROOT / "ci/gate-thresholds.json").read_text())["min_ratio"]
    performance = {}
    for kernel, scale in (("7.2", 1.3), ("7.3", 1.1)):
        metrics, checks = {}, []
        for config, limits in thresholds.items():
            for metric, limit in limits.items():
                median = limit * (0.8 if (kernel, config, metric) == ("7.3", "aqmap", "hackbench") else scale)
                ratio = {"median": median, "min": median * 0.85, "max": median * 1.2, "rel_spread": 0.35,
                         "rounds": [median * 0.85, median, median * 1.2]}
                metrics.setdefault(metric, {"unit": "x", "higher_is_better": True, "what": metric, "values": {},
                                            "ratio": {}})["ratio"][config] = ratio
                checks.append({"kind": "threshold", "config": config, "metric": metric, "value": median,
                               "limit": limit, "reference": 0, "passed": median >= limit})
        metrics["cyclictest-max"] = {"ratio": {c: {"median": 0.2, "min": 0.04, "max": 0.9} for c in thresholds}}
        verdict = "PASS" if all(c["passed"] for c in checks) else "FAIL"
        performance[kernel] = {"kernel": f"{kernel}.1+deb14-cloud-amd64", "rounds": 3, "duration_s": 5,
                               "verdict": verdict, "metrics": metrics, "checks": checks}
    cases = [{"id": f"{k}/performance", "section": "performance", "kernel": k, "what": "bench against EEVDF",
              "verdict": performance[k]["verdict"], "exit": 0 if performance[k]["verdict"] == "PASS" else 1,
              "wall_s": 300.0, "reasons": [] if performance[k]["verdict"] == "PASS" else ["hackbench: 0.48 < 0.6"],
              "rerun": f"aqcheck gate --case {k}/performance", "log": f"out/gate/cases/{k}.log"}
             for k in performance]
    return {"schema": "aqcheck-gate/1", "verdict": "FAIL", "profile": "release", "kernels": ["7.2", "7.3"],
            "shards": ["1/1"], "command": "gate --profile release", "elapsed_s": 620.0, "passed": 1, "failed": 1,
            "informational": 0, "problems": [], "performance": performance, "cases": cases}


def test_gate_report_draws_ratios_and_thresholds(chromium):
    report = gate_fixture()
    expected = gate_chart_ids(report)
    assert len(expected) == 4  # 2 kernels x 2 configs
    page = render(write_report("gate", report))
    assert_page_draws(chromium, page, expected, "gate", height=1500)


def test_real_gate_reports_open_cleanly(chromium):
    """The pages the gate tests' own gates wrote (smoke: no performance case, so no chart)."""
    pages = sorted(OUT.glob("gate-*/gate.html"))
    if not pages:
        pytest.skip("no gate ran before this test (test_gate.py writes OUT/gate-*/)")
    for page in pages:
        report = json.loads(page.with_suffix(".json").read_text())
        assert page_problems(chromium, page, gate_chart_ids(report)) == [], page


# --- fuzz ---------------------------------------------------------------------------

def fuzz_fixture():
    labels = ("removals", "sched_changes", "fifo_moves", "fallbacks", "hotplug")
    scenarios, so_far = [], dict.fromkeys(labels, 0)
    for n in range(1, 13):
        coverage = {"removals": 40 * n % 170, "sched_changes": 15 * (n % 3), "fifo_moves": 3 * n,
                    "fallbacks": 900 if n % 4 == 0 else 0, "hotplug": 6 if n in (5, 9) else 0}
        for k, v in coverage.items():
            so_far[k] += v
        scenarios.append({"name": f"s{n:03}", "seed": 1000 + n, "verdict": "FAIL" if n == 7 else "PASS",
                          "duration_s": 20, "wall_s": 29.5, "spec": f"out/fuzz/scenarios/s{n:03}.spec.json",
                          "report": f"out/fuzz/scenarios/s{n:03}.report.json", "failures": [],
                          "host_stall_retries": [], "coverage": coverage, "elapsed_s": 30.0 * n,
                          "coverage_so_far": dict(so_far)})
    coverage = {k: {"total": so_far[k], "scenarios": sum(1 for s in scenarios if s["coverage"][k]),
                    "counters": {}} for k in labels}
    failure = {"scenario": "s007", "class": "stale-entry", "classes": ["stale-entry"], "classification": "reproducible",
               "reruns": {"runs": 2, "failed_same_class": 2}, "reasons": ["dequeue did not remove: pid 7 <x> & y"],
               "reproduce": {"fuzz": "aqcheck vm -- fuzz --replay s007.json", "run": "aqcheck vm -- run ..."}}
    return {"schema": "aqcheck-fuzz/1", "verdict": "FAIL", "kernel": "7.2.13+deb14-cloud-amd64", "seed": 1,
            "budget_s": 360, "shrink_allowance_s": 300, "elapsed_s": 362, "replay": "", "command": "fuzz --budget 6m",
            "scenarios_run": 12, "passed": 11, "failed": 1, "host_stall_retries": 0,
            "stopped_because": "budget used", "coverage": coverage, "failures": [failure], "scenarios": scenarios}


def test_fuzz_report_draws_coverage_over_time(chromium):
    report = fuzz_fixture()
    page = render(write_report("fuzz", report))
    assert_page_draws(chromium, page, fuzz_chart_ids(report), "fuzz", height=2000)


def test_real_fuzz_summary_opens_cleanly(chromium):
    """The page the fuzz smoke session wrote itself, in the VM (test_fuzz.py)."""
    summary = OUT / "fuzz-smoke" / "summary.json"
    if not summary.exists():
        pytest.skip("no fuzz session ran before this test (test_fuzz.py writes OUT/fuzz-smoke/)")
    report = json.loads(summary.read_text())
    page = summary.with_suffix(".html")
    assert page.exists(), "the fuzz session wrote no summary.html beside summary.md"
    assert_page_draws(chromium, page, fuzz_chart_ids(report), "fuzz-smoke", height=1800)


# --- the check can fail ----------------------------------------------------------------

CHART_DATA = '<script type="application/json" id="aq-charts">'


def with_script_error(text):
    return text.replace("</body>", "<script>throw new Error('deliberate')</script></body>", 1)


def without_library(text):
    return text.replace("<script>\n/*!\n * Chart.js", "<script type='text/plain'>\n/*!\n * Chart.js", 1)


def without_first_chart_data(text):
    """The first chart's values emptied: it draws its axes but places no point."""
    start = text.index(CHART_DATA) + len(CHART_DATA)
    end = text.index("</script>", start)
    specs = json.loads(text[start:end])
    for s in specs[0]["series"]:
        s["values"] = []
    return text[:start] + json.dumps(specs).replace("<", "\\u003c") + text[end:]


@pytest.mark.parametrize("breakage, needle", [
    (with_script_error, "script error: Uncaught Error: deliberate"),
    (without_library, "Chart is not defined"),
    (without_first_chart_data, "coverage-0: placed no data points"),
], ids=["script-error", "no-library", "no-data"])
def test_the_check_sees_a_broken_page(chromium, breakage, needle):
    report = fuzz_fixture()
    page = render(write_report("fuzz-for-breaking", report))
    assert page_problems(chromium, page, fuzz_chart_ids(report)) == []
    bad = SHOTS / f"broken-{breakage.__name__}.html"
    text = page.read_text()
    bad.write_text(breakage(text))
    assert bad.read_text() != text, "the breakage changed nothing"
    problems = page_problems(chromium, bad, fuzz_chart_ids(report))
    assert any(needle in p for p in problems), problems


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, needle", [
    ("not-json", "{", "not JSON"),
    ("bench", '{"schema": "aqcheck-bench/1"}', "none of aqcheck-report/1"),
    ("short-column", None, "cases[0].series.task_wait_max_ms: 1 values for 2 times"),
])
def test_bad_report_one_error_no_page(tmp_path, name, text, needle):
    if text is None:
        series = {"t_s": [0.1, 0.2], "fifo_len": [[1, 2]] * 5, "fifo_head_wait_max_ms": [0, 1], "task_wait_max_ms": [3]}
        text = json.dumps({"schema": "aqcheck-report/1", "cases": [{"name": "x", "series": series}]})
    report = tmp_path / f"{name}.json"
    report.write_text(text)
    out = tmp_path / f"{name}.html"
    p = subprocess.run([str(AQCHECK), "report", "html", str(report), "--out", str(out)], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    errors = [l for l in p.stderr.splitlines() if l.startswith("aqcheck: error:")]
    assert p.returncode == BAD_REPORT and len(errors) == 1 and needle in errors[0], (p.returncode, p.stderr)
    assert not out.exists() and list(tmp_path.glob("*.tmp.*")) == []


def test_missing_report_is_a_bad_report(tmp_path):
    p = subprocess.run([str(AQCHECK), "report", "html", str(tmp_path / "none.json")], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == BAD_REPORT and "cannot read" in p.stderr, p.stderr
