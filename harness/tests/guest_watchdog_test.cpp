#include "guest_watchdog.hpp"

#include <gtest/gtest.h>

TEST(GuestWatchdog, HangReportsAreHungTasksAndRcuStalls) {
  EXPECT_TRUE(aq::is_hang_report("[  242.621426] INFO: task kworker/u8:2:38 blocked for more than 120 seconds."));
  EXPECT_TRUE(aq::is_hang_report("[  600.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"));
  EXPECT_TRUE(aq::is_hang_report("[  722.0] INFO: rcu_tasks detected stalls on tasks:"));
  EXPECT_FALSE(aq::is_hang_report("[    5.2] sched_ext: BPF scheduler \"aqmap\" enabled"));
  EXPECT_FALSE(aq::is_hang_report("[    9.9] WARNING: CPU: 1 PID: 7 at kernel/sched/ext.c:1234"));
}
