// The guest half of hang handling in an aqcheck VM (run_vm, vm.hpp).
//
// A run whose kernel hangs never reaches its verdict, and the host only sees
// the qemu timeout.  The watchdog, started by the guest's /init next to
// `aqcheck run`, makes such a run explain itself and end sooner.
#pragma once

namespace aq {

// Seconds a run may go on after the kernel's first hung-task or RCU stall
// report before the watchdog ends the VM: a run that still finishes gets its
// (failing) verdict; one stuck behind the hang does not hold CI to --timeout.
inline constexpr int kHangGraceS = 120;

// The hidden `aqcheck guest-watchdog <uptime_s>`.  Runs at SCHED_FIFO, so a
// stalled sched_ext scheduler cannot starve it, and dumps to the console the
// harness's kernel stacks, every task with the run queues and busy worker
// pools, every CPU's backtrace and the sched_ext state (sysrq t, l, D):
//   - at the kernel's first hung-task or RCU stall report; if `aqcheck run`
//     is still going kHangGraceS later, it ends the VM (exit_code::vm_timeout)
//     after printing guest_watchdog_ended and why;
//   - at uptime_s seconds of guest uptime, shortly before the host's
//     --timeout kills the VM.
// /init kills it when the run ends.
int guest_watchdog(int uptime_s);

}  // namespace aq
