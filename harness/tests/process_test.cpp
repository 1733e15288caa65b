// run_process: the one child-process loop of the gate, selftests and bench.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/proc_files.hpp"
#include "common/process.hpp"

namespace {

TEST(RunProcess, CapturesOutputAndExitCode) {
  const auto r = aq::run_process({"sh", "-c", "echo out; echo err >&2; exit 3"}, aq::ProcessOptions::timeout(30));
  EXPECT_EQ(r.exit, 3);
  EXPECT_NE(r.output.find("out"), std::string::npos);
  EXPECT_NE(r.output.find("err"), std::string::npos);
  EXPECT_EQ(aq::run_process({"/nonexistent/program"}, {}).exit, 127);
}

TEST(RunProcess, TheTimeoutKillsTheWholeGroup) {
  const auto pidfile = std::filesystem::temp_directory_path() / "aq_process_test_grandchild";
  const auto r = aq::run_process({"sh", "-c", "sleep 600 & echo $! > " + pidfile.string() + "; wait"},
                                 aq::ProcessOptions::timeout(1));
  EXPECT_EQ(r.exit, -1);
  std::ifstream in(pidfile);
  int pid = 0;
  in >> pid;
  ASSERT_GT(pid, 0);
  // The grandchild went with its group: SIGKILL is delivered at once but
  // taken asynchronously, so wait (up to 10 s) for it to be gone or a zombie.
  const auto alive = [&] {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    return !line.empty() && line.find(") Z") == std::string::npos;
  };
  for (int i = 0; i < 100 && alive(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(alive()) << "pid " << pid << " outlived its group's SIGKILL";
}

TEST(RunProcess, LogsToAFileAndStopsOnRequest) {
  const auto log = std::filesystem::temp_directory_path() / "aq_process_test.log";
  std::filesystem::remove(log);
  auto o = aq::ProcessOptions::timeout(60);
  o.log_path = log.string();
  // Stop once the child has written its line: no race with the echo.
  o.stop = [&] { return std::filesystem::exists(log) && std::filesystem::file_size(log) > 0; };
  const auto r = aq::run_process({"sh", "-c", "echo logged; sleep 600"}, o);
  EXPECT_EQ(r.exit, -2);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "logged\n");
}

// A comm may hold ") " itself: the fields start after the last one.
TEST(ProcFiles, StatFieldsStartAfterTheComm) {
  const auto path = std::filesystem::temp_directory_path() / "aq-proc-stat-test";
  std::ofstream(path) << "4242 (qemu) (x) y) T 1 4242 4242 0 -1 4194560 10 0 0 0 150 25 0 0\n";
  const auto fields = aq::proc_stat_after_comm(path);
  EXPECT_EQ(fields.substr(0, 4), "T 1 ");
  EXPECT_EQ(aq::proc_stat_after_comm(path.string() + ".missing"), "");
  std::filesystem::remove(path);
  // Our own stat: running, or sleeping between the read and the test.
  const auto self = aq::proc_stat_after_comm("/proc/self/stat");
  ASSERT_FALSE(self.empty());
  EXPECT_NE(std::string("RS").find(self[0]), std::string::npos) << self;
}

}  // namespace
