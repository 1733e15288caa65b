// Running `aqcheck run ...` (or `aqcheck fuzz ...`) inside a qemu VM that boots a sched_ext kernel.
//
// The host side (run_vm) builds an initramfs holding busybox, this (static)
// aqcheck executable, stress-ng with its shared libraries and harness/vm/guest/init,
// boots it under qemu, streams the serial console, enforces a timeout, copies
// the guest's report files back and turns the outcome into an exit code
// (harness/common/exit_codes.hpp).  guest_exit() is the guest half: the init script
// calls `/aqcheck guest-exit <code>` to end qemu with that code.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aq {

struct VmOptions {
  std::string kernel = "7.2";  // series ("7.2", "7.3") or a path to a bzImage
  int cpus = 2;
  int mem_mb = 2048;
  int timeout_s = 300;         // whole VM lifetime, boot included
  std::string console_log;     // default out/vm-<timestamp>/console.log
  std::string cache_dir = "/var/cache/aqcheck";
  std::string accel = "tcg";   // "tcg" (default) or "kvm"
  std::string aqcheck_exe;     // static aqcheck for the guest; default /proc/self/exe
  bool stream_console = true;  // copy the serial console to stdout while it runs
  // Host files or directories the guest reads (e.g. the default workloads
  // directory), copied into the guest at their absolute host path.  Files named
  // by --workload FILE and --workloads-dir DIR in the run arguments are added
  // automatically.  The guest runs in a directory of the same name as the host's
  // working directory, so relative paths resolve the same way.
  std::vector<std::string> guest_files;
  // Console lines containing any of these are not kernel problems: for runs
  // that make the scheduler exit on purpose (fault injection), e.g.
  // R"(disabled (runtime error))".
  std::vector<std::string> console_allow;
  // What the guest runs: `/aqcheck <subcommand> <args>` ("run" or "fuzz").
  std::string subcommand = "run";
};

// Boots the VM and runs `/aqcheck <options.subcommand> <run_args>` in it.
// Report options (--json/--junit/--markdown FILE) are redirected into the
// guest's /out and the files written back to FILE afterwards; so is an
// output directory (--out DIR), file by file.  Returns the guest's exit code,
// or exit_code::{no_kernel, usage, vm_timeout, vm_failed, fail, internal}.
int run_vm(const VmOptions& options, const std::vector<std::string>& run_args);

// Guest only (the hidden `aqcheck guest-exit <code>` subcommand): drains the
// serial ports and ends qemu through isa-debug-exit (qemu exits with
// (code << 1) | 1), falling back to powering off.  Refuses to run outside an
// aqcheck VM.  Returns only on failure.
int guest_exit(int code);

// What the guest watchdog prints when it ends a hung guest, then why; the
// host turns it into a "VM hung" verdict.
inline constexpr std::string_view guest_watchdog_ended = "aqcheck-guest: watchdog: ending the VM: ";

// What the guest watchdog prints when its own 1 s poll came back this many
// seconds late (at least kGuestStoodStillS): the whole guest stood still.
// Then "<seconds> s"; the host tells whether qemu ran meanwhile.
inline constexpr std::string_view guest_stood_still = "aqcheck-guest: watchdog: the whole guest stood still ";
inline constexpr double kGuestStoodStillS = 5;

// The seconds of every guest_stood_still line in @console, in order.
std::vector<double> guest_standstills(std::string_view console);

// True inside a VM that run_vm booted (its /init and marker file).
bool inside_aqcheck_vm();

// When the guest watchdog (guest_watchdog.hpp) dumps, for a VM killed after
// timeout_s seconds: early enough that the dump reaches the console log.
int guest_watchdog_uptime(int timeout_s);

// A kernel log line saying the system, not just the run, is stuck: a hung
// task or an RCU (or RCU-tasks) stall.  One of scan_console's problems, and
// what wakes the guest watchdog.
bool is_hang_report(std::string_view line);

// A kernel log line saying sched_ext disabled a BPF scheduler for a reason
// other than its own program unregistering it: one of scan_console's
// problems, and in a selftest's log the test's own doing.
bool is_scheduler_exit(std::string_view line);

// Kernel problems in a serial console log: WARNING:, BUG:, RCU stalls,
// Oops, hung tasks, Kernel panic, and sched_ext schedulers disabled for any
// reason but a clean unregister from user space.  Returns the offending lines,
// except those containing one of `allowed`.
std::vector<std::string> scan_console(const std::string& text, const std::vector<std::string>& allowed = {});

// The console problems the guest's own reports did not already judge.  The
// guest's aqcheck reads the kernel log of every case and puts each problem
// line into a failure reason (where a host stall marks it, and a retry may
// follow); the host's scan is the backstop for lines outside any case, and
// must not count a judged line a second time.  guest_files: what the guest
// sent back (JSON reports are searched by their string values).
std::vector<std::string> unjudged_problems(const std::vector<std::string>& problems,
                                           const std::map<std::string, std::string>& guest_files);

// --- pieces of run_vm, exposed for tests -------------------------------------

// A guest killed by an int3 Oops whose trap sits right after a live-patched
// jump-label/static-call site (5-byte NOP, jmp or call): text_poke_bp()'s
// temporary breakpoint, still executed by another vCPU after it was removed.
// Seen only under multi-threaded TCG: about once per 60 sched_ext
// enable/disable cycles with qemu 7.2, far more often on a busy host, not
// since qemu 10; run_vm then boots again (three boots at most).
bool tcg_code_patching_oops(std::string_view console);

// Why the guest watchdog ended the VM (the text after guest_watchdog_ended),
// or "" if it did not.
std::string watchdog_verdict(std::string_view console);

// A report option whose FILE was redirected into the guest.
struct ReportRedirect {
  std::string option;      // "--json", "--junit", "--markdown", or "--out" (a directory)
  std::string host_path;   // what the user gave
  std::string guest_path;  // /out/<basename>
  bool directory = false;  // --out DIR: every file the guest writes under it comes back under DIR
};

struct GuestCommand {
  std::vector<std::string> args;  // run_args with report FILEs rewritten
  std::vector<ReportRedirect> reports;
  std::vector<std::string> inputs;  // --workload FILE, --workloads-dir DIR (as given)
};

// A boot lost to the emulator or the host: its kept console log and why.
struct LostBoot {
  std::string console;
  std::string because;
};

// A report the guest wrote, with the boots lost before it written into it: a
// run that needed another boot says so in its --json ("vm": {"boots",
// "lost_boots", "lost_because"}) and --markdown report, never only on stderr.
// Other reports, and runs with one boot, are returned as is.
std::string note_lost_boots(const std::string& option, const std::string& report,
                            const std::vector<LostBoot>& lost);

// Rewrites `--json FILE` / `--json=FILE` (and --junit, --markdown, and the
// directory of --out DIR) to /out/<basename>; "-" (stdout) and arguments after
// "--" are kept.  Collects the input paths of --workload (when it names a
// file, i.e. has a '/' or ends in .job), --workloads-dir, --replay, --plan
// and the selftests' and bench's input files; those arguments stay as they are.
GuestCommand rewrite_run_args(const std::vector<std::string>& run_args);

// The guest's whole argv after /aqcheck: the subcommand, the rewritten
// arguments, then hidden options telling the guest what the host sees:
// `--host-command "<subcommand> <run_args as given>"` (reports then name the
// host's paths in their reproduction line), `--host-exe <host_exe>` (the
// executable those lines name) and, for a redirected --out DIR,
// `--host-out <DIR made absolute against host_cwd>`.  Inserted before a "--".
std::vector<std::string> guest_argv(const std::string& subcommand, const std::vector<std::string>& run_args,
                                    const GuestCommand& cmd, const std::string& host_cwd,
                                    const std::string& host_exe);

// What the guest sent on its data port (/dev/ttyS1):
//   @@AQ-FILE <name> <size>@@   then base64 lines, then   @@AQ-END@@
//   @@AQ-EXIT <code>@@
struct GuestData {
  std::map<std::string, std::string> files;  // name relative to /out -> bytes
  std::optional<int> exit_code;
  std::vector<std::string> problems;         // truncated or corrupt frames
};
GuestData decode_guest_data(std::string_view stream);

// The run arguments as they travel on the kernel command line
// (aqcheck.args=<base64 of the arguments, one per line>).
std::string encode_run_args(const std::vector<std::string>& args);

}  // namespace aq
