// Reports: schema fields, verdict logic, JUnit shape, atomic writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "run/audit.hpp"
#include "common/proc_files.hpp"
#include "report/report.hpp"

namespace {

aq::RunResult sample() {
  aq::RunResult res;
  res.kernel = "7.2.13+deb14-cloud-amd64";
  aq::CaseResult ok;
  ok.name = "cpu-baseline";
  ok.counters = {{"nr_deq_removed", 5}};
  aq::CaseResult bad;
  bad.name = "affinity-churn";
  bad.failures = {"dequeue did not remove: pid 1 (enqueue #2) on FIFO 0", "no coverage: x = 0 < 1 (a)"};
  aq::CaseResult skipped;
  skipped.name = "cpu-hotplug";
  skipped.skipped = "needs cpus >= 2, have 1 (cpu-hotplug)";
  res.cases = {ok, bad, skipped};
  return res;
}

TEST(Report, JsonCarriesEveryFailureAndTheReproduction) {
  aq::RunConfig cfg;
  cfg.seed = 99;
  cfg.command_line = "run --workload all";
  auto res = sample();
  // Run directly: the rerun names this very executable, absolute.
  auto repro = aq::reproduction_command(cfg, res.kernel);
  const auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  EXPECT_EQ(repro, self + " vm --kernel 7.2 -- run --workload all --seed 99   # kernel 7.2.13+deb14-cloud-amd64");
  auto j = aq::to_json(cfg, res, repro);
  EXPECT_EQ(j["schema"], "aqcheck-report/1");
  EXPECT_EQ(j["verdict"], "FAIL");
  EXPECT_EQ(j["failures"].size(), 2u);
  EXPECT_EQ(j["cases"][2]["verdict"], "SKIPPED");
  EXPECT_EQ(j["seed"], 99);
  EXPECT_EQ(j["reproduce"], repro);
}

// In a VM the guest's command names /out paths; `aqcheck vm` passes the
// host's command (--host-command) and the reproduction line must use it.
TEST(Report, ReproductionNamesTheHostCommandInAVm) {
  aq::RunConfig cfg;
  cfg.seed = 7;
  cfg.command_line = "run --workload cpu-baseline --json /out/verify.json";
  cfg.host_command = "run --workload cpu-baseline --json out/verify.json";
  cfg.host_exe = "/home/me/aq/build/default/harness/aqcheck";
  const auto repro = aq::reproduction_command(cfg, "7.3.1+deb14-cloud-amd64");
  EXPECT_EQ(repro, "/home/me/aq/build/default/harness/aqcheck vm --kernel 7.3 -- run --workload cpu-baseline "
                   "--json out/verify.json --seed 7   # kernel 7.3.1+deb14-cloud-amd64");
  EXPECT_EQ(repro.find("/out/"), std::string::npos);
}

TEST(Report, SkippedAloneIsNotAPassButDoesNotFail) {
  aq::RunResult res;
  aq::CaseResult skipped;
  skipped.skipped = "why";
  res.cases = {skipped};
  EXPECT_FALSE(res.passed());  // nothing ran
  aq::CaseResult ok;
  res.cases.push_back(ok);
  EXPECT_TRUE(res.passed());
}

TEST(Report, JsonKeepsEachNumberArrayOnOneLine) {
  const nlohmann::json j = {{"t_s", {0.5, 1, -2e-05}},
                            {"fifo_len", {{1, 2}, {3}}},
                            {"names", {"a [1, 2]", "b\\\"[3]"}},
                            {"none", nlohmann::json::array()}};
  const auto text = aq::compact_number_arrays(j.dump(2));
  EXPECT_NE(text.find("\"t_s\": [0.5, 1, -2e-05]"), std::string::npos) << text;
  EXPECT_NE(text.find("[1, 2],\n    [3]"), std::string::npos) << text;
  EXPECT_NE(text.find("\"none\": []"), std::string::npos) << text;
  EXPECT_EQ(nlohmann::json::parse(text), j);
}

TEST(Report, JunitCountsFailuresAndSkips) {
  auto x = aq::to_junit(sample(), "repro <cmd>");
  EXPECT_NE(x.find("tests=\"3\" failures=\"1\" skipped=\"1\""), std::string::npos) << x;
  EXPECT_NE(x.find("repro &lt;cmd&gt;"), std::string::npos);
}

TEST(Report, AtomicWriteLeavesNoTemporaryAndReplacesWhole) {
  auto dir = std::filesystem::temp_directory_path() / ("aqreport." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "r.json").string();
  aq::write_file_atomic(path, "first");
  aq::write_file_atomic(path, "second");
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(s, "second");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  EXPECT_THROW(aq::write_file_atomic((dir / "missing" / "r.json").string(), "x"), std::runtime_error);
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

const std::string kMarked = std::string("stuck task: pid 7 waited 5012 ms on FIFO 2") + std::string(aq::kHostStallMark) +
                            " aqcheck's own SCHED_FIFO loop stood still 1 time(s)";

}  // namespace

// Only a FAIL whose every reason the host explains is run again: one reason
// without the mark is evidence against the scheduler.
TEST(HostStallRetry, OnlyAFailWhollyExplainedByTheHostIsRetried) {
  aq::CaseResult r;
  EXPECT_FALSE(aq::failed_only_by_host(r));  // a PASS
  r.failures = {kMarked, "kernel log: sched_ext: BPF scheduler \"aqmap\" errored" + std::string(aq::kHostStallMark)};
  EXPECT_TRUE(aq::failed_only_by_host(r));
  r.failures.push_back("dequeue did not remove: pid 1 (enqueue #2) on FIFO 0");
  EXPECT_FALSE(aq::failed_only_by_host(r));
  r.failures = {"host stall is mentioned but not as the mark"};
  EXPECT_FALSE(aq::failed_only_by_host(r));
}

// A retried case says so in every report: the failed attempt's reasons, and
// the verdict text, so nothing turns green out of sight.
TEST(HostStallRetry, EveryReportShowsTheFailedAttempt) {
  aq::RunResult res;
  res.kernel = "7.2.13+deb14-cloud-amd64";
  aq::CaseResult c;
  c.name = "nice-churn";
  c.host_stall_retries = {{{kMarked}, 1, 14.3, 12.5}};
  res.cases = {c};
  aq::RunConfig cfg;
  EXPECT_TRUE(res.passed());
  EXPECT_EQ(aq::case_verdict_text(c), "PASS after 1 host-stall retry");

  const auto j = aq::to_json(cfg, res, "repro");
  EXPECT_EQ(j["verdict"], "PASS");
  EXPECT_EQ(j["host_stall_retries"], 1);
  ASSERT_EQ(j["cases"][0]["host_stall_retries"].size(), 1u);
  EXPECT_EQ(j["cases"][0]["host_stall_retries"][0]["failures"][0], kMarked);
  EXPECT_EQ(j["cases"][0]["host_stall_retries"][0]["longest_stall_s"], 14.3);

  const auto md = aq::to_markdown(res, "repro");
  EXPECT_NE(md.find("# aqcheck: PASS (1 host-stall retry)"), std::string::npos) << md;
  EXPECT_NE(md.find("| nice-churn | PASS after 1 host-stall retry |"), std::string::npos) << md;
  EXPECT_NE(md.find("(attempt 1, run again: a host stall): stuck task: pid 7"), std::string::npos) << md;

  const auto xml = aq::to_junit(res, "repro");
  EXPECT_NE(xml.find("<system-out>host-stall retry: attempt 1 failed: stuck task: pid 7"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("<failure"), std::string::npos);
}

// Before a retry the guest must settle: the busy share of its CPUs comes
// from /proc/stat's aggregate line (user nice system idle iowait irq softirq steal).
TEST(HostStallRetry, BusyShareFromProcStat) {
  const auto a = aq::parse_cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n");
  EXPECT_EQ(a.busy, 150u);
  EXPECT_EQ(a.total, 1000u);
  const auto b = aq::parse_cpu_times("cpu  105 0 55 980 50 0 0 0 0 0\n");
  EXPECT_DOUBLE_EQ(aq::busy_share(a, b), 10.0 / 190.0);
  EXPECT_EQ(aq::busy_share(b, b), 1.0);  // nothing elapsed: not idle
  EXPECT_EQ(aq::parse_cpu_times("garbage").total, 0u);
}
