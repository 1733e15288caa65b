// Exit codes of aqcheck: one per kind of outcome, so CI and scripts can tell
// a failed verdict from a machine that could not run the check at all.
#pragma once

namespace aq::exit_code {
inline constexpr int pass = 0;            // verdict PASS
inline constexpr int fail = 1;            // verdict FAIL (every reason printed)
inline constexpr int usage = 2;           // bad command line
inline constexpr int not_root = 3;        // needs root
inline constexpr int no_sched_ext = 4;    // kernel without sched_ext
inline constexpr int no_kernel = 5;       // missing kernel image / unknown series
inline constexpr int vm_timeout = 6;      // guest hung: killed at --timeout
inline constexpr int bad_workload = 7;    // malformed or unknown workload file
inline constexpr int load_failed = 8;     // scheduler failed to load or attach
inline constexpr int vm_failed = 9;       // guest ended without a verdict / qemu failed
inline constexpr int internal = 10;       // anything else
inline constexpr int bad_spec = 11;       // unreadable, malformed or out-of-range fuzz spec
inline constexpr int bad_report = 12;     // unreadable or malformed report (report merge/compare/html)
inline constexpr int bad_thresholds = 13; // unreadable or malformed performance thresholds file
inline constexpr int missing_tool = 14;   // a program the check needs is not installed (run ci/setup.sh)
inline constexpr int bad_plan = 15;       // unreadable or malformed batch plan (aqcheck batch)
inline constexpr int no_kernel_coverage = 16;  // --kernel-coverage on a kernel that keeps no gcov data
}  // namespace aq::exit_code
