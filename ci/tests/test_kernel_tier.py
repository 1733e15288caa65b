"""Issue 4: under stress, dequeue really removes tasks, and the check can fail.

Each scenario is one declarative record, and the per-workload tests read
their scenario's shared report.  Independent scenarios share a boot (BOOTS:
one `aqcheck vm -- batch` each); each keeps its own report and rerun command.
The release gate runs the full matrices (docs/ci.md "What runs where").
"""
import dataclasses
import json

import pytest

from conftest import AQCHECK, FAIL, OUT, PASS, require_kernel, run_aqcheck, run_batch, workload_names

# Audits every 10 ms: a stale entry must survive two audits >= 10 ms apart,
# and under TCG the dispatch path drains short FIFOs within ~100 ms.
AUDIT = ["--audit-interval-ms", "10"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    run_args: tuple
    vm_args: tuple = ()
    expect_rc: int = PASS
    # About 3 min for an 11-workload run here; a hang the kernel reports ends
    # sooner (the guest watchdog).
    timeout_s: int = 900


MATRIX = Scenario("matrix", "every workload under scx_aqmap", ("--workload", "all", *AUDIT))
# Fault injection on the workloads that take the most fallback paths: the
# dequeue and re-enqueue of affinity churn, the exits of fork churn, the
# wakeups of sleep-wake.  Every other workload's is the release gate's
# (7.2/faults/<workload>).
FAULT_WORKLOADS = ("affinity-churn", "fork-exit-churn", "sleep-wake")
FAULTS = {w: Scenario(f"faults-{w}", f"{w} with every 7th list-lock acquisition failed",
                      ("--workload", w, "--fail-lock-every", "7", *AUDIT))
          for w in FAULT_WORKLOADS}
# nice-churn's lazy build is the release gate's (7.2/negative/lazy-removal-nice-churn).
# Its first reason is all it needs: --stop-on-fail ends it there.
LAZY = {w: Scenario(f"lazy-{w}", f"lazy-removal build under {w}",
                    ("--workload", w, "--variant", "lazy-removal", "--stop-on-fail", *AUDIT), expect_rc=FAIL)
        for w in ("affinity-churn",)}
# The twin's list mutants built into the scheduler: the in-kernel audit's
# structural checks, and the slab check after detach, must catch them.
MUTANTS = {v: Scenario(v, f"{v} build under affinity-churn",
                       ("--workload", "affinity-churn", "--variant", v, *AUDIT), expect_rc=FAIL)
           for v in ("mutant-unlink-no-prev", "mutant-pop-no-counter", "mutant-slab-free-drops")}
MUTANT_REASON = {"mutant-unlink-no-prev": "corrupted list: FIFO ",
                 "mutant-pop-no-counter": "conservation mismatch: FIFO ",
                 "mutant-slab-free-drops": "slab not whole after detach: "}
# The lost-task build drops a task when its enqueue's lock fails: aqcheck's
# wait audit must name it, and detach, before the kernel's 30 s watchdog.
LOST = Scenario("lost-task", "lost-task build: the enqueue fallback puts the task nowhere",
                ("--workload", "cpu-baseline", "--variant", "lost-task", "--fail-lock-every", "7", *AUDIT),
                expect_rc=FAIL)
# The pre-custody build's ops.dequeue ignores the custody end 7.2 added (a
# dispatched task reaching a local DSQ): the custody ledger must say so, by
# kind, from the ops that meet the task still "in custody" afterwards.
PRE_CUSTODY = Scenario("pre-custody-dequeue", "pre-custody-dequeue build under cpu-baseline",
                       ("--workload", "cpu-baseline", "--variant", "pre-custody-dequeue", *AUDIT), expect_rc=FAIL)
CUSTODY = "custody protocol violated: "
# The starvation guard off (--starve-ms 60000): under affinity churn FIFO 0
# gets 1 dispatch slot in 31 while its tasks are re-enqueued at its tail, so
# its head starves. The wait audit's bound must see it: proof that the guard
# is what keeps affinity-churn's FIFO-head waits short.
STARVE = Scenario("starvation-guard-off", "affinity-churn with the starvation guard off",
                  ("--workload", "affinity-churn", "--starve-ms", "60000", "--duration", "40", *AUDIT),
                  expect_rc=FAIL)
# The audit walks a FIFO of hundreds of entries (starvation guard off) every
# 1 ms under affinity churn.  When it took the FIFO lock with interrupts on, an
# interrupt on the auditing CPU spun on the other CPU's rq lock while that
# CPU's ops.dequeue spun on the FIFO lock: the whole guest stood still ~30 s,
# then dequeue failed "16 times (-110)" (docs/kernel-tier.md "The audit's interrupt-time
# deadlock"; 2 of 3 such runs before the fix, in 20 s runs about 1 in 3).
LONG_AUDITS = Scenario("long-audits", "1 ms audits of a FIFO hundreds long under affinity churn",
                       ("--workload", "affinity-churn", "--starve-ms", "60000", "--stuck-after-ms", "25000",
                        "--duration", "20", "--audit-interval-ms", "1"))
HIGHPRI = Scenario("highpri", "high-priority boosting while the harness renices tasks down to nice -20",
                   ("--workload", "nice-churn", "--highpri-boosting", *AUDIT))
SIGKILL = Scenario("sigkill", "SIGKILL of aqcheck mid-run returns sched_ext to disabled within 1 s",
                   ("--sigkill-after", "3", "--stress", "--cpu 2 --fork 1"))
# Five cycles: the check (every cycle ran, the slab whole after each) is the
# same as the release gate's 50 (7.2/cycles), which soaks it.  Under
# single-threaded TCG each load takes ~10 s (the verifier), so 50 took ~9 min.
CYCLES = Scenario("cycles", "5 attach/detach cycles under load, slab whole after each",
                  # With `switch`: stress-ng's metrics check fails a stressor killed
                  # mid-write ("corrupted bogo-ops counter"), so the run PASSes only
                  # if --cycles ends stress-ng as Ctrl-C does (StressChild::stop).
                  ("--cycles", "5", "--duration", "5", "--stress", "--cpu 2 --fork 1 --yield 1 --switch 1", *AUDIT),
                  # Single-threaded TCG: enabling sched_ext flips static keys, and
                  # multi-threaded TCG has Oopsed on int3 while patching them.
                  vm_args=("--accel", "tcg-single"), timeout_s=900)

# Scenarios that share a boot, with the boot's timeout.  A broken build is
# ejected and leaves the kernel as it found it, and each run reads only its
# own kernel log, so these are independent.  CYCLES boots alone: it needs
# single-threaded TCG.
BOOTS = {
    "boot-matrix": ((MATRIX, *FAULTS.values()), 1500),
    "boot-negatives": ((*LAZY.values(), *MUTANTS.values(), LOST, PRE_CUSTODY, STARVE), 1500),
    "boot-passing": ((LONG_AUDITS, HIGHPRI, SIGKILL), 900),
}

_results = {}


def run_scenario(s):
    require_kernel()
    if s.name not in _results:
        boot = next((b for b, (group, _) in BOOTS.items() if s in group), None)
        if boot is None:
            _results[s.name] = run_aqcheck(["vm", "--timeout", str(s.timeout_s), *s.vm_args, "--", "run",
                                            *s.run_args], timeout=s.timeout_s + 60, name=s.name)
        else:
            group, timeout_s = BOOTS[boot]
            results = run_batch(boot, {g.name: g.run_args for g in group}, timeout_s)
            _results.update(results)
    return _results[s.name]


@pytest.mark.parametrize("workload", workload_names())
def test_workload_passes_and_removes(workload):
    r = run_scenario(MATRIX)
    c = r.case(workload)
    assert c["verdict"] in ("PASS", "SKIPPED"), f"{workload}: {c['failures']}\n{r.explain()}"
    if c["verdict"] == "SKIPPED":
        pytest.skip(f"{workload}: {c['skipped']}")
    assert c["audit"]["audits"] > 0
    assert c["audit"]["stale_entries"] == 0
    assert c["exit"]["kind_name"] == "unregistered from user space"
    assert c["waits"]["wait_audits"] > 0
    assert c["waits"]["stuck_tasks"] == 0
    # The custody ledger: used, never violated, and every custody taken was
    # ended by exactly one ops.dequeue by the time the scheduler was gone.
    k = c["counters"]
    assert k["nr_custody_taken"] > 0 and k["nr_custody_violations"] == 0, k
    assert k["nr_custody_ended"] == k["nr_custody_taken"], k
    record_figures(MATRIX, r)


def test_matrix_verdict_and_reports():
    r = run_scenario(MATRIX)
    assert r.rc == PASS, r.explain()
    assert r.report["schema"] == "aqcheck-report/1"
    # The rerun works as printed on the host: the host's own executable and
    # the host's report path, not the guest's /out.
    repro = r.report["reproduce"]
    assert repro.startswith(f"{AQCHECK.resolve()} vm --kernel "), repro
    assert f"--json {r.json_path}" in repro and "--json /out/" not in repro, repro
    # The seed reaches every stressor (stress-ng says so when one ignores it).
    assert "mwc_core: cannot determine seed" not in r.console


@pytest.mark.parametrize("workload", FAULT_WORKLOADS)
def test_fault_injection_loses_nothing(workload):
    r = run_scenario(FAULTS[workload])
    c = r.case(workload)
    if c["verdict"] == "SKIPPED":
        pytest.skip(f"{workload}: {c['skipped']}")
    assert c["verdict"] == "PASS", f"{workload}: {c['failures']}\n{r.explain()}"
    k = c["counters"]
    assert k["nr_lock_injected"] > 0
    assert k["nr_enq_lock_fallback"] + k["nr_pop_lock_fail"] > 0
    assert c["exit"]["kind_name"] == "unregistered from user space"  # no watchdog stall


@pytest.mark.parametrize("workload", sorted(LAZY))
def test_lazy_removal_variant_is_caught(workload):
    r = run_scenario(LAZY[workload])
    assert r.rc == FAIL, r.explain()
    reasons = r.case(workload)["failures"]
    assert any(f.startswith("dequeue did not remove: pid ") for f in reasons), reasons
    # The custody ledger sees the same bug at the dequeue itself.
    assert any(f.startswith(CUSTODY) and "(dequeue-left-linked)" in f for f in reasons), reasons
    assert "stopped at the first failure (--stop-on-fail)" in r.case(workload)["notes"]


def test_a_missed_custody_end_is_caught_by_the_ledger():
    r = run_scenario(PRE_CUSTODY)
    assert r.rc == FAIL, r.explain()
    reasons = r.case("cpu-baseline")["failures"]
    kinds = {f[f.index("(") + 1:f.index(")")] for f in reasons if f.startswith(CUSTODY)}
    # Every dispatched task runs, is enqueued again, and leaves at detach
    # while the scheduler still believes it holds it; a sleeper also wakes.
    assert kinds == {"run-in-custody", "enqueue-in-custody", "wake-in-custody", "exit-in-custody"}, reasons
    assert all(f.startswith(CUSTODY) for f in reasons), reasons
    assert "--variant pre-custody-dequeue" in r.report["reproduce"], r.report["reproduce"]


@pytest.mark.parametrize("variant", sorted(MUTANTS))
def test_list_mutant_in_the_kernel_is_caught_by_the_audit(variant):
    r = run_scenario(MUTANTS[variant])
    assert r.rc == FAIL, r.explain()
    reasons = r.case("affinity-churn")["failures"]
    assert any(f.startswith(MUTANT_REASON[variant]) for f in reasons), reasons


def test_lost_task_is_named_before_the_kernel_watchdog():
    r = run_scenario(LOST)
    assert r.rc == FAIL, r.explain()
    c = r.case("cpu-baseline")
    lost = [f for f in c["failures"] if f.startswith("lost task: pid ")]
    assert lost, c["failures"]
    assert all("nowhere: on no FIFO and no DSQ, ops_state QUEUED (in custody)" in f for f in lost), lost
    # Each lost task leaves the kernel's custody at detach, which the
    # scheduler's ledger never recorded taking.
    assert any(f.startswith(CUSTODY) and "(dequeue-out-of-custody)" in f for f in c["failures"]), c["failures"]
    # aqcheck detached first: the kernel never had to eject the scheduler.
    assert c["exit"]["kind_name"] == "unregistered from user space", c["failures"]
    assert c["waits"]["stuck_tasks"] >= 1
    assert "aqcheck: sched_ext dump (SysRq-D" in r.console


def test_starvation_without_the_guard_is_caught_by_the_wait_bound():
    r = run_scenario(STARVE)
    assert r.rc == FAIL, r.explain()
    c = r.case("affinity-churn")
    stuck = [f for f in c["failures"] if f.startswith("stuck task: pid ")]
    assert any(", on FIFO " in f for f in stuck), c["failures"]
    assert c["counters"]["nr_aged_dispatch"] == 0 and c["counters"]["nr_overdue_requeue"] == 0, c["counters"]
    assert c["exit"]["kind_name"] == "unregistered from user space", c["failures"]


def test_long_audits_under_churn_never_stall_the_guest():
    r = run_scenario(LONG_AUDITS)
    assert "the guest kernel itself stood still" not in r.out, r.explain()
    assert r.rc == PASS, r.explain()
    c = r.case("affinity-churn")
    assert c["audit"]["fifo_len_max"][0] >= 100, c["audit"]  # what makes an audit hold its lock long
    assert c["audit"]["audits"] >= 1000, c["audit"]


def test_highpri_boosting_schedules_boosted_tasks():
    r = run_scenario(HIGHPRI)
    assert r.rc == PASS, r.explain()
    c = r.case("nice-churn")
    assert c["counters"]["nr_highpri"] > 0
    assert r.report["scheduler"]["options"]["highpri_boosting"] is True


def test_sigkill_detaches_within_a_second():
    r = run_scenario(SIGKILL)
    assert r.rc == PASS, r.explain()
    assert r.case("stress")["counters"]["sigkill_to_disabled_ms"] <= 1000


def test_attach_detach_cycles_under_load():
    r = run_scenario(CYCLES)
    assert r.rc == PASS, r.explain()
    c = r.case("stress")
    assert c["counters"]["cycles"] == 5
    assert c["slab"]["free"] == c["slab"]["total"]


def record_figures(scenario, r):
    """Per-workload figures for the closing note: out/pytest/<scenario>-figures.md."""
    path = OUT / f"{scenario.name}-figures.md"
    if path.exists():
        return
    rows = ["| workload | verdict | removals | sched changes | audits | longest audit ms | max FIFO wait ms "
            "| max task wait ms | aged dispatches | wall s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in r.report["cases"]:
        k = c["counters"]
        rows.append(f"| {c['name']} | {c['verdict']} | {k.get('nr_deq_removed', 0)} | "
                    f"{k.get('nr_deq_sched_change', 0)} | {c['audit']['audits']} | {c['audit']['max_ms']:.2f} | "
                    f"{c['waits']['max_fifo_wait_ms']:.0f} | {c['waits']['max_task_wait_ms']} | "
                    f"{k.get('nr_aged_dispatch', 0)} | {c['wall_s']:.1f} |")
    path.write_text("\n".join(rows) + "\n")
