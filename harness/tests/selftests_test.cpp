// Reading the kernel selftest runner's output and the contract-tests list.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "conformance/selftests.hpp"

namespace {

TEST(Selftests, ResultLinesPassSkipFail) {
  const auto results = aq::parse_runner_output(
      "===== START =====\nTEST: dequeue\nOUTPUT:\nok 7 is printed by a test, not a result\n"
      "ok 1 dequeue # \n=====  END  =====\n"
      "===== START =====\nTEST: dequeue_iter\nok 2 dequeue_iter # SKIP \n=====  END  =====\n"
      "ERR: dequeue.c:42\nnot ok 3 dequeue_remote # \n\n=============================\n\nPASSED:  1\n");
  ASSERT_EQ(results.size(), 4u);  // the stray "ok 7 is ..." line parses too; only names asked for count
  EXPECT_EQ(results[1].name, "dequeue");
  EXPECT_EQ(results[1].result, "PASS");
  EXPECT_EQ(results[2].name, "dequeue_iter");
  EXPECT_EQ(results[2].result, "SKIP");
  EXPECT_EQ(results[3].name, "dequeue_remote");
  EXPECT_EQ(results[3].result, "FAIL");
  EXPECT_TRUE(aq::parse_runner_output("No tests matched filter 'x'\n").empty());
}

TEST(Selftests, ContractListIsTheFirstWordOfEachLine) {
  const auto path = std::filesystem::temp_directory_path() / ("aq-contract-" + std::to_string(::getpid()) + ".txt");
  { std::ofstream(path) << "# comment\ndequeue   asserts things\n\nminimal  attaches\n"; }
  EXPECT_EQ(aq::read_test_names(path.string()), (std::vector<std::string>{"dequeue", "minimal"}));
  { std::ofstream(path) << "# only a comment\n"; }
  EXPECT_THROW(aq::read_test_names(path.string()), std::runtime_error);
  std::filesystem::remove(path);
  EXPECT_THROW(aq::read_test_names(path.string()), std::runtime_error);
}

// A test whose scheduler sched_ext disables on purpose (ddsp_bogus_dsq_fail)
// is judged by its own result; a kernel WARNING during a test FAILs the run.
TEST(Selftests, SchedulerExitsAreTheTestsOwnAndOtherComplaintsAreProblems) {
  const auto k = aq::judge_selftest_kernel_log({
      "[   37.995262] sched_ext: BPF scheduler \"ddsp_bogus_dsq_fail\" disabled (runtime error)",
      "[   38.000001] sched_ext: ddsp_bogus_dsq_fail: invalid DSQ ID 0x0000000000000001",
      "[   38.100000] WARNING: CPU: 1 PID: 9 at kernel/sched/ext/ext.c:1234 do_enqueue_task+0x1/0x2",
      "[   38.200000] sched_ext: BPF scheduler \"minimal\" disabled (unregistered from user space)",
  });
  EXPECT_EQ(k.scheduler_exits, (std::vector<std::string>{
                                   "[   37.995262] sched_ext: BPF scheduler \"ddsp_bogus_dsq_fail\" disabled (runtime error)"}));
  ASSERT_EQ(k.problems.size(), 1u);
  EXPECT_NE(k.problems[0].find("WARNING: CPU: 1"), std::string::npos);
}

}  // namespace
