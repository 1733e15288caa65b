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

}  // namespace
