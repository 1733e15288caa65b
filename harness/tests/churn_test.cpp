// The churner finds a workload's processes by their process group.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "run/churn.hpp"
TEST(Churn, FindsTheProcessesOfAGroup) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setpgid(0, 0);
    ::pause();
    ::_exit(0);
  }
  ::setpgid(child, child);
  auto pids = aq::processes_in_group(child);
  EXPECT_NE(std::find(pids.begin(), pids.end(), child), pids.end());
  EXPECT_EQ(std::find(pids.begin(), pids.end(), ::getpid()), pids.end());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}
