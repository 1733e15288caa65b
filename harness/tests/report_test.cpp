// Reports: schema fields, verdict logic, JUnit shape, atomic writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "report.hpp"

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
