// Unit tests of harness/vm/: console scanning, the guest data framing,
// report redirection, and run_vm's failure paths (no kernel, dynamic guest
// executable, a kernel qemu cannot boot, a guest that hangs).
#include "vm/vm.hpp"

#include "common/exit_codes.hpp"
#include "common/text.hpp"
#include "vm/host_freeze.hpp"
#include "vm/internal.hpp"
#include "vm_guest_init.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "aq_vm_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

int count_lines(const std::string& s) {
  int n = 0;
  for (const char c : s) n += c == '\n';
  return n;
}

// --- scan_console -------------------------------------------------------------

TEST(ScanConsole, FindsKernelProblems) {
  const std::vector<std::string> bad{
      "[   12.345678] WARNING: CPU: 1 PID: 42 at kernel/sched/ext.c:1234 scx_ops_enable+0x1/0x2",
      "[   13.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008",
      "[   14.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [stress-ng:99]",
      "[   15.000000] rcu: INFO: rcu_preempt self-detected stall on CPU",
      "[   15.100000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
      "[   16.000000] Kernel panic - not syncing: Fatal exception",
      "[   17.000000] sched_ext: BPF scheduler \"aqmap\" disabled (runtime error)",
      "[   17.500000] sched_ext: BPF scheduler \"aqmap\" disabled (runnable task stall)",
      "[   18.000000] Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP",
      "[  250.000000] INFO: task kworker/0:1:12 blocked for more than 122 seconds.",
  };
  std::string console = "[    0.000000] Linux version 7.2.13\r\n";
  for (const auto& line : bad) console += line + "\r\n";
  console += "aqcheck-guest: /aqcheck run exited with 0\r\n";
  EXPECT_EQ(aq::scan_console(console), bad);  // '\r' stripped, order kept
}

TEST(ScanConsole, IgnoresHealthyOutput) {
  const std::string console =
      "[    0.000000] Command line: console=ttyS0 panic=-1 rdinit=/init\r\n"
      "[    0.081000] rcu: Hierarchical RCU implementation.\r\n"
      "[    0.082000] rcu: \tRCU CPU stall warnings timeout set to 21 (rcu_cpu_stall_timeout).\r\n"
      "[    0.090000] ACPI BIOS Warning (bug): Incorrect checksum in table [DSDT]\r\n"
      "[    0.200000] x86/mm: Checked W+X mappings: passed, no W+X pages found.\r\n"
      "[    5.000000] sched_ext: BPF scheduler \"aqmap\" enabled\r\n"
      "[    9.000000] sched_ext: BPF scheduler \"aqmap\" disabled (unregistered from user space)\r\n"
      "aqcheck-guest: kernel 7.2.13+deb14-cloud-amd64\r\n"
      "stress-ng: info:  [123] successful run completed in 2.00 secs\r\n";
  EXPECT_TRUE(aq::scan_console(console).empty());
  EXPECT_TRUE(aq::scan_console("").empty());
}

TEST(TcgFlake, IntThreeAtALivePatchedSiteIsRecognised) {
  const std::string nop =
      "[    5.681110] Oops: int3: 0000 [#1] SMP NOPTI\n"
      "[    5.681994] RIP: 0010:__schedule+0x190/0x1070\n"
      "[    5.683185] Code: 0f 84 9a 07 00 00 83 f3 01 49 c7 84 24 20 0e 00 00 00 00 00 00 0f <1f> 44 00 00 49 8b 44\n";
  const std::string jmp =
      "[   31.515077] Oops: int3: 0000 [#1] SMP NOPTI\n"
      "[   31.518000] Code: 0f 1f 44 00 00 55 48 89 f5 53 48 89 fb eb 05 e8 78 de fc ff e9 <9a> 00 00 00 0f 1f 44\n";
  EXPECT_TRUE(aq::tcg_code_patching_oops(nop));
  EXPECT_TRUE(aq::tcg_code_patching_oops(jmp));
  // 2-byte sites (sched_clock_cpu's static key), as NOP and as short jmp.
  EXPECT_TRUE(aq::tcg_code_patching_oops(
      "[ 1.23] Oops: int3: 0000 [#1] SMP NOPTI\n[ 1.24] Code: 90 f3 0f 1e fa 48 83 ec 18 66 <90> e8 01 c2\n"));
  EXPECT_TRUE(aq::tcg_code_patching_oops(
      "[ 65.0] Oops: int3: 0000 [#1] SMP NOPTI\n[ 65.1] Code: 90 f3 0f 1e fa 48 83 ec 18 eb <1b> e8 01 c2\n"));
  // A real breakpoint, or a real Oops, is the kernel's problem: no retry.
  EXPECT_FALSE(aq::tcg_code_patching_oops(
      "[ 1.0] Oops: int3: 0000 [#1] SMP\n[ 1.1] Code: 90 90 cc <90> 90 90\n"));
  EXPECT_FALSE(aq::tcg_code_patching_oops(
      "[ 1.0] Oops: general protection fault\n[ 1.1] Code: 0f <1f> 44 00 00\n"));
  EXPECT_FALSE(aq::tcg_code_patching_oops("[ 1.0] Kernel panic - not syncing: x\n"));
}

TEST(ScanConsole, OnlyKernelLinesCount) {
  // Programs share the console: their own "WARNING:" is not the kernel's.
  const std::string console =
      "stress-ng: warn:  [138] switch: WARNING: finished prematurely after just 2.23s\n"
      "aqcheck: BUG: in a message of ours\n"
      "[    8.261793] WARNING: CPU: 1 PID: 9 at kernel/sched/ext.c:1 x\n";
  EXPECT_EQ(aq::scan_console(console),
            std::vector<std::string>{"[    8.261793] WARNING: CPU: 1 PID: 9 at kernel/sched/ext.c:1 x"});
}

TEST(ScanConsole, AllowsExpectedLines) {
  const std::string console =
      "[    9.000000] sched_ext: BPF scheduler \"aqmap\" disabled (runtime error)\n"
      "[    9.100000] WARNING: CPU: 0 PID: 1 at kernel/sched/ext.c:99\n";
  EXPECT_EQ(aq::scan_console(console, {"disabled (runtime error)"}),
            std::vector<std::string>{"[    9.100000] WARNING: CPU: 0 PID: 1 at kernel/sched/ext.c:99"});
}

// --- guest data framing ---------------------------------------------------------

TEST(GuestData, DecodesFilesAndExitCode) {
  // "{\"ok\":true}\n" and 100 'x' split over lines the way busybox base64 wraps them.
  const std::string stream =
      "@@AQ-FILE report.json 12@@\r\n"
      "eyJvayI6dHJ1ZX0K\r\n"
      "@@AQ-END@@\r\n"
      "@@AQ-FILE sub/dir/my report.md 100@@\n"
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\n"
      "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==\n"
      "@@AQ-END@@\n"
      "@@AQ-FILE empty 0@@\n"
      "@@AQ-END@@\n"
      "@@AQ-EXIT 4@@\r\n";
  const auto data = aq::decode_guest_data(stream);
  EXPECT_TRUE(data.problems.empty()) << data.problems.front();
  ASSERT_EQ(data.files.size(), 3U);
  EXPECT_EQ(data.files.at("report.json"), "{\"ok\":true}\n");
  EXPECT_EQ(data.files.at("sub/dir/my report.md"), std::string(100, 'x'));
  EXPECT_EQ(data.files.at("empty"), "");
  EXPECT_EQ(data.exit_code, 4);
}

TEST(GuestData, ReportsDamage) {
  const auto truncated = aq::decode_guest_data("@@AQ-FILE a.json 12@@\neyJvayI6\n");
  EXPECT_TRUE(truncated.files.empty());
  EXPECT_FALSE(truncated.exit_code.has_value());
  ASSERT_EQ(truncated.problems.size(), 1U);
  EXPECT_THAT(truncated.problems[0], HasSubstr("a.json: truncated"));

  const auto short_file = aq::decode_guest_data("@@AQ-FILE a 13@@\neyJvayI6dHJ1ZX0K\n@@AQ-END@@\n@@AQ-EXIT 0@@\n");
  EXPECT_TRUE(short_file.files.empty());
  EXPECT_EQ(short_file.exit_code, 0);
  ASSERT_EQ(short_file.problems.size(), 1U);
  EXPECT_THAT(short_file.problems[0], HasSubstr("got 12 bytes, expected 13"));

  const auto corrupt = aq::decode_guest_data("@@AQ-FILE a 3@@\n!!!!\n@@AQ-END@@\n@@AQ-FILE b 3@@\n@@AQ-EXIT 1@@\n");
  EXPECT_EQ(corrupt.exit_code, 1);
  ASSERT_EQ(corrupt.problems.size(), 2U);
  EXPECT_THAT(corrupt.problems[0], HasSubstr("a: corrupt base64"));
  EXPECT_THAT(corrupt.problems[1], HasSubstr("b: truncated"));

  const auto escape = aq::decode_guest_data("@@AQ-FILE ../../etc/passwd 1@@\neA==\n@@AQ-END@@\n@@AQ-EXIT x@@\n");
  EXPECT_TRUE(escape.files.empty());
  EXPECT_FALSE(escape.exit_code.has_value());
  EXPECT_EQ(escape.problems.size(), 2U);

  EXPECT_FALSE(aq::decode_guest_data("booting...\n").exit_code.has_value());
}

// --- run arguments --------------------------------------------------------------

TEST(RunArgs, RedirectsReportsIntoOut) {
  const auto cmd = aq::rewrite_run_args({"--workload", "w/mixed.toml", "--json", "results/run.json",
                                            "--junit=ci/junit.xml", "--markdown", "-", "--seed", "7",
                                            "--markdown=other/run.json", "--", "--json", "x.json"});
  const std::vector<std::string> want{"--workload", "w/mixed.toml", "--json", "/out/run.json",
                                      "--junit=/out/junit.xml", "--markdown", "-", "--seed", "7",
                                      "--markdown=/out/2-run.json", "--", "--json", "x.json"};
  EXPECT_EQ(cmd.args, want);
  ASSERT_EQ(cmd.reports.size(), 3U);
  EXPECT_EQ(cmd.reports[0].option, "--json");
  EXPECT_EQ(cmd.reports[0].host_path, "results/run.json");
  EXPECT_EQ(cmd.reports[0].guest_path, "/out/run.json");
  EXPECT_EQ(cmd.reports[1].option, "--junit");
  EXPECT_EQ(cmd.reports[1].host_path, "ci/junit.xml");
  EXPECT_EQ(cmd.reports[2].guest_path, "/out/2-run.json");
  EXPECT_EQ(cmd.inputs, std::vector<std::string>{"w/mixed.toml"});
}

TEST(RunArgs, CollectsGuestInputs) {
  const std::vector<std::string> args{"--workload", "mixed", "--workload=tests/x.job", "--workloads-dir", "../wl",
                                      "--workload", "/abs/y"};
  const auto cmd = aq::rewrite_run_args(args);
  EXPECT_EQ(cmd.args, args);
  EXPECT_EQ(cmd.inputs, (std::vector<std::string>{"tests/x.job", "../wl", "/abs/y"}));
}

TEST(RunArgs, LeavesIncompleteOptionsAlone) {
  const std::vector<std::string> args{"--verbose", "--json"};
  EXPECT_EQ(aq::rewrite_run_args(args).args, args);
  EXPECT_TRUE(aq::rewrite_run_args(args).reports.empty());
  EXPECT_TRUE(aq::rewrite_run_args({}).args.empty());
}

TEST(RunArgs, FuzzOutDirectoryComesBackAndReplaySpecGoesIn) {
  const auto cmd = aq::rewrite_run_args({"--budget", "3m", "--out", "/tmp/fuzz-try", "--replay", "f/s001.spec.json"});
  EXPECT_EQ(cmd.args, (std::vector<std::string>{"--budget", "3m", "--out", "/out/fuzz-try", "--replay",
                                                "f/s001.spec.json"}));
  ASSERT_EQ(cmd.reports.size(), 1U);
  EXPECT_TRUE(cmd.reports[0].directory);
  EXPECT_EQ(cmd.reports[0].host_path, "/tmp/fuzz-try");
  EXPECT_EQ(cmd.reports[0].guest_path, "/out/fuzz-try");
  EXPECT_EQ(cmd.inputs, std::vector<std::string>{"f/s001.spec.json"});
}

// The kernel's gcov counters come back like an output directory.
TEST(RunArgs, KernelCoverageDirectoryComesBack) {
  const auto cmd = aq::rewrite_run_args({"--workload", "all", "--kernel-coverage", "out/cov"});
  EXPECT_EQ(cmd.args, (std::vector<std::string>{"--workload", "all", "--kernel-coverage", "/out/cov"}));
  ASSERT_EQ(cmd.reports.size(), 1U);
  EXPECT_TRUE(cmd.reports[0].directory);
  EXPECT_EQ(cmd.reports[0].host_path, "out/cov");
  // --host-out is fuzz's (its --out), not run's.
  const auto argv = aq::guest_argv("run", {"--kernel-coverage", "out/cov"}, cmd, "/h", "");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "--host-out"), 0) << aq::shell_join(argv);
}

TEST(RunArgs, GuestArgvCarriesTheHostCommand) {
  const std::vector<std::string> run{"--workload", "cpu-baseline", "--json", "out/verify.json"};
  const auto argv = aq::guest_argv("run", run, aq::rewrite_run_args(run), "/home/me/aq", "/home/me/aq/aqcheck");
  EXPECT_EQ(argv, (std::vector<std::string>{"run", "--workload", "cpu-baseline", "--json", "/out/verify.json",
                                            "--host-command", "run --workload cpu-baseline --json out/verify.json",
                                            "--host-exe", "/home/me/aq/aqcheck"}));
  const std::vector<std::string> fuzz{"--budget", "1h30m", "--out", "out/night", "--", "x"};
  const auto fargv = aq::guest_argv("fuzz", fuzz, aq::rewrite_run_args(fuzz), "/home/me/aq", "");
  EXPECT_EQ(fargv, (std::vector<std::string>{"fuzz", "--budget", "1h30m", "--out", "/out/night", "--host-command",
                                             "fuzz --budget 1h30m --out out/night -- x", "--host-out",
                                             "/home/me/aq/out/night", "--", "x"}));
  EXPECT_EQ(aq::guest_argv("run", {}, aq::rewrite_run_args({}), "/", ""),
            (std::vector<std::string>{"run", "--host-command", "run"}));
}

TEST(RunArgs, EncodesOneArgumentPerLine) {
  EXPECT_EQ(aq::encode_run_args({}), "");
  // base64("--name\na b 'c'\n")
  EXPECT_EQ(aq::encode_run_args({"--name", "a b 'c'"}), "LS1uYW1lCmEgYiAnYycK");
}

// A standstill the guest reports is judged by what qemu did meanwhile: next
// to no CPU means qemu's threads were blocked outside the guest.
TEST(HostFreeze, QemusLeastCpuShareWhereTheStandstillLies) {
  aq::vm_detail::HostFreezeMeter m(0, {});
  EXPECT_EQ(m.qemu_least_cpu_share(10), -1);
  for (int i = 0; i < 30; i++) m.add({1.0, 0, false, 0}, 1.9);  // busy guest
  EXPECT_GT(m.qemu_least_cpu_share(25), 0.9);                    // a guest that spun stood still itself
  for (int i = 0; i < 25; i++) m.add({1.0, 0, false, 0}, 0.01);  // blocked, not by the host's scheduler
  EXPECT_EQ(m.current_s(), 0);  // nothing the scheduler's view shows
  EXPECT_LT(m.qemu_least_cpu_share(25), aq::vm_detail::kQemuBlockedShare);
  // The thawed guest reports it 6 s late, busy meanwhile: the last 25 s
  // alone hold 11 CPU-s (0.46 CPU-s/s), the standstill itself next to none.
  for (int i = 0; i < 6; i++) m.add({1.0, 0, false, 0}, 1.9);
  EXPECT_LT(m.qemu_least_cpu_share(25), aq::vm_detail::kQemuBlockedShare);
  // Too late to be that standstill's report: only busy stretches are left.
  for (int i = 0; i < 40; i++) m.add({1.0, 0, false, 0}, 1.9);
  EXPECT_GT(m.qemu_least_cpu_share(25), 0.9);
  m.add({3.0, 3.0, false, 0}, 3.0);  // a runner gap: qemu's time in it is not counted
  EXPECT_EQ(m.qemu_least_cpu_share(2), 0);
}

TEST(GuestWatchdog, StandstillsAreReadFromTheConsole) {
  const std::string console = "x\n" + std::string(aq::guest_stood_still) + "33.5 s (its 1 s poll came back that late)\n" +
                              "[ 45.7] rcu: INFO\n" + std::string(aq::guest_stood_still) + "6.0 s (...)\n";
  EXPECT_EQ(aq::guest_standstills(console), (std::vector<double>{33.5, 6.0}));
  EXPECT_TRUE(aq::guest_standstills("nothing\n").empty());
}

// --- the guest watchdog's side of the protocol ---------------------------------------

TEST(GuestWatchdog, HangReportsAreHungTasksAndRcuStalls) {
  EXPECT_TRUE(aq::is_hang_report("[  242.621426] INFO: task kworker/u8:2:38 blocked for more than 120 seconds."));
  EXPECT_TRUE(aq::is_hang_report("[  600.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"));
  EXPECT_TRUE(aq::is_hang_report("[  722.0] INFO: rcu_tasks detected stalls on tasks:"));
  EXPECT_FALSE(aq::is_hang_report("[    5.2] sched_ext: BPF scheduler \"aqmap\" enabled"));
  EXPECT_FALSE(aq::is_hang_report("[    9.9] WARNING: CPU: 1 PID: 7 at kernel/sched/ext.c:1234"));
}

TEST(Console, SchedulerExitsAreDisablesOtherThanUnregistering) {
  EXPECT_TRUE(aq::is_scheduler_exit("[ 41.4] sched_ext: BPF scheduler \"aqmap\" disabled (scx_bpf_error)"));
  EXPECT_TRUE(aq::is_scheduler_exit("[ 42.1] sched_ext: BPF scheduler \"x_fail\" disabled (runtime error)"));
  EXPECT_FALSE(aq::is_scheduler_exit("[ 17.5] sched_ext: BPF scheduler \"aqmap\" disabled (unregistered from user space)"));
  EXPECT_FALSE(aq::is_scheduler_exit("[  7.3] sched_ext: BPF scheduler \"aqmap\" enabled"));
}

TEST(GuestWatchdog, VerdictIsTheReasonAfterTheMarker) {
  const std::string console = "[  242.6] INFO: task khugepaged:42 blocked for more than 120 seconds.\n" +
                              std::string(aq::guest_watchdog_ended) + "the kernel reported a hang  \n[ 363.1] x\n";
  EXPECT_EQ(aq::watchdog_verdict(console), "the kernel reported a hang");
  EXPECT_EQ(aq::watchdog_verdict("aqcheck-guest: watchdog: no verdict at 1440 s guest uptime\n"), "");
  EXPECT_EQ(aq::watchdog_verdict(""), "");
}

TEST(GuestWatchdog, DumpsBeforeTheHostKills) {
  for (int timeout : {1, 4, 60, 300, 1500, 5000}) {
    const int at = aq::guest_watchdog_uptime(timeout);
    EXPECT_GE(at, 1) << timeout;
    EXPECT_LE(at, timeout) << timeout;
    if (timeout >= 60) EXPECT_LE(at, timeout - 15) << timeout;
  }
  EXPECT_EQ(aq::guest_watchdog_uptime(1500), 1440);
}

// --- the guest's /init -----------------------------------------------------------

TEST(GuestInit, PrintsNoKernelProblemMarkers) {
  EXPECT_TRUE(aq::scan_console(std::string(aq::detail::guest_init_script)).empty());
}

TEST(GuestInit, HostBusyboxHasTheAppletsInitUses) {
  FILE* list = popen("busybox --list 2>/dev/null", "r");
  ASSERT_NE(list, nullptr);
  std::string applets = "\n";
  for (int c; (c = std::fgetc(list)) != EOF;) applets += static_cast<char>(c);
  pclose(list);
  if (applets == "\n") GTEST_SKIP() << "no busybox on the host";
  for (const auto* applet : {"sh", "mount", "mkdir", "ip", "uname", "cut", "nproc", "free", "awk", "cat",
                             "base64", "stty", "find", "wc", "kill", "poweroff"})
    EXPECT_THAT(applets, HasSubstr(std::string("\n") + applet + "\n")) << applet;
}

// --- run_vm failure paths -----------------------------------------------------------

class RunVm : public testing::Test {
 protected:
  aq::VmOptions options() const {
    aq::VmOptions o;
    o.cache_dir = tmp_.path() / "cache";
    o.console_log = tmp_.path() / "run" / "console.log";
    o.aqcheck_exe = "/bin/busybox";  // any static executable
    o.stream_console = false;
    o.timeout_s = 60;
    return o;
  }
  static bool have_qemu_tools() {
    for (const auto* tool : {"/usr/bin/qemu-system-x86_64", "/usr/bin/stress-ng", "/bin/busybox"})
      if (access(tool, X_OK) != 0) return false;
    return true;
  }
  int run(const aq::VmOptions& o, std::string& err, const std::vector<std::string>& args = {}) {
    testing::internal::CaptureStderr();
    const int code = aq::run_vm(o, args);
    err = testing::internal::GetCapturedStderr();
    return code;
  }
  TempDir tmp_;
};

TEST_F(RunVm, MissingKernelSeries) {
  auto o = options();
  o.kernel = "7.3";
  std::string err;
  EXPECT_EQ(run(o, err), aq::exit_code::no_kernel);
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_EQ(err, "aqcheck: error: no kernel image for 7.3 at " + o.cache_dir +
                     "/kernels/7.3/vmlinuz: run ci/setup.sh --kernel 7.3\n");
}

TEST_F(RunVm, MissingKernelPath) {
  auto o = options();
  o.kernel = tmp_.path() / "no" / "bzImage";
  std::string err;
  EXPECT_EQ(run(o, err), aq::exit_code::no_kernel);
  EXPECT_EQ(err, "aqcheck: error: no kernel image at " + o.kernel + "\n");
}

TEST_F(RunVm, RejectsDynamicGuestExecutable) {
  auto o = options();
  o.kernel = tmp_.path() / "bzImage";
  write(o.kernel, "not a kernel");
  o.aqcheck_exe = "/proc/self/exe";  // this test binary is dynamically linked
  std::string err;
  EXPECT_EQ(run(o, err), aq::exit_code::usage);
  EXPECT_EQ(count_lines(err), 1) << err;
  EXPECT_THAT(err, HasSubstr("is dynamically linked"));
}

TEST_F(RunVm, RejectsNewlinesInArguments) {
  auto o = options();
  o.kernel = tmp_.path() / "bzImage";
  write(o.kernel, "not a kernel");
  std::string err;
  EXPECT_EQ(run(o, err, {"--name", "a\nb"}), aq::exit_code::usage);
  EXPECT_EQ(count_lines(err), 1) << err;
}

TEST_F(RunVm, UnbootableKernelFailsFast) {
  if (!have_qemu_tools()) GTEST_SKIP() << "qemu, stress-ng or busybox missing";
  auto o = options();
  o.kernel = tmp_.path() / "bzImage";
  write(o.kernel, std::string(4096, '\x5a'));
  std::string err;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run(o, err), aq::exit_code::vm_failed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_THAT(err, HasSubstr("aqcheck: error: VM ended without a verdict (qemu: "));
  EXPECT_THAT(err, HasSubstr("console log: " + o.console_log));
  EXPECT_TRUE(fs::exists(o.console_log));
}

// A multiboot image whose entry point is `cli; hlt`: qemu boots it and then
// nothing ever happens, like a guest that hangs before reporting a verdict.
std::string hanging_multiboot_kernel() {
  const std::uint32_t load = 0x100000, header_size = 32, flags = 0x00010000;  // a.out kludge
  const std::uint32_t magic = 0x1BADB002;
  const std::uint32_t words[8] = {magic, flags, 0U - magic - flags, load, load, 0, 0, load + header_size};
  std::string image(reinterpret_cast<const char*>(words), sizeof words);
  image += "\xfa\xf4\xeb\xfd";  // cli; 1: hlt; jmp 1b
  return image;
}

TEST_F(RunVm, HungGuestIsKilledAtTimeout) {
  if (!have_qemu_tools()) GTEST_SKIP() << "qemu, stress-ng or busybox missing";
  auto o = options();
  o.kernel = tmp_.path() / "hang.bin";
  write(o.kernel, hanging_multiboot_kernel());
  o.timeout_s = 3;
  std::string err;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run(o, err), aq::exit_code::vm_timeout);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::seconds(3));
  EXPECT_LT(took, std::chrono::seconds(20));
  EXPECT_THAT(err, HasSubstr("aqcheck: error: VM hung: no verdict after 3 s (killed); console log: " +
                             o.console_log + "\n"));
  EXPECT_THAT(err, HasSubstr("qemu-system-x86_64 -nodefaults"));  // the command line is printed
  EXPECT_TRUE(fs::exists(o.console_log));
  EXPECT_TRUE(fs::exists(fs::path(o.console_log).parent_path() / "qemu-command.sh"));
}

}  // namespace

TEST(LostBoots, AReportSaysItTookAnotherBootAndWhy) {
  const std::string json = "{\"verdict\": \"PASS\"}";
  EXPECT_EQ(aq::note_lost_boots("--json", json, {}), json);  // one boot: untouched
  const auto noted = aq::note_lost_boots("--json", json, {{"/o/console.log.lost1", "the host did not run the guest"}});
  const auto j = nlohmann::json::parse(noted);
  EXPECT_EQ(j["vm"]["boots"], 2) << noted;
  EXPECT_EQ(j["vm"]["lost_boots"], nlohmann::json::array({"/o/console.log.lost1"})) << noted;
  EXPECT_EQ(j["vm"]["lost_because"], nlohmann::json::array({"the host did not run the guest"})) << noted;
  EXPECT_EQ(j["verdict"], "PASS") << noted;
  const auto md = aq::note_lost_boots("--markdown", "# aqcheck: PASS\n", {{"/o/c.lost1", "an Oops"}, {"/o/c.lost2", "a freeze"}});
  EXPECT_NE(md.find("**This verdict took 3 boots**"), std::string::npos) << md;
  EXPECT_NE(md.find("- /o/c.lost2: a freeze\n"), std::string::npos) << md;
  EXPECT_EQ(aq::note_lost_boots("--junit", "<x/>", {{"/o/c.lost1", "an Oops"}}), "<x/>");
}

// A reading counts as a freeze when the guest missed most of it, for any of
// the host's three ways of not running it; an idle guest is not frozen.
TEST(HostFreeze, AReadingIsFrozenWhenTheHostDidNotRunTheGuest) {
  using aq::vm_detail::judge_freeze_sample;
  EXPECT_EQ(judge_freeze_sample({1.0, 0, false, 0}).lost_s, 0);     // idle or busy, but run
  EXPECT_EQ(judge_freeze_sample({1.0, 0, false, 0.3}).lost_s, 0);   // waited a little for a CPU
  EXPECT_EQ(judge_freeze_sample({1.0, 0, true, 0}).lost_s, 1.0);    // SIGSTOP
  EXPECT_THAT(judge_freeze_sample({1.0, 0, true, 0}).why, HasSubstr("stopped"));
  EXPECT_EQ(judge_freeze_sample({1.0, 0, false, 0.9}).lost_s, 0.9);  // host CPUs busy
  EXPECT_THAT(judge_freeze_sample({1.0, 0, false, 0.9}).why, HasSubstr("waited for a host CPU"));
  EXPECT_EQ(judge_freeze_sample({30.0, 29.9, false, 0}).lost_s, 29.9);  // the host machine stood still
  EXPECT_THAT(judge_freeze_sample({30.0, 29.9, false, 0}).why, HasSubstr("steal"));
  EXPECT_EQ(judge_freeze_sample({0, 0, true, 0}).lost_s, 0);  // the first reading has no span
}

// The freeze under way is the run of consecutive frozen readings: a reading
// in which the guest ran ends it, and a long one counts at once.
TEST(HostFreeze, TheFreezeUnderWayAddsUpConsecutiveFrozenReadings) {
  aq::vm_detail::HostFreezeMeter m(0, {});
  for (int i = 0; i < 19; i++) m.add({1.0, 0, true, 0});
  EXPECT_DOUBLE_EQ(m.current_s(), 19);
  EXPECT_LT(m.current_s(), aq::vm_detail::kHostFreezeLostS);
  m.add({1.0, 0, false, 0});  // it ran again
  EXPECT_EQ(m.current_s(), 0);
  EXPECT_EQ(m.current_why(), "");
  m.add({1.0, 0, false, 0.95});
  m.add({20.0, 20.0, false, 0});
  EXPECT_DOUBLE_EQ(m.current_s(), 21);
  EXPECT_GE(m.current_s(), aq::vm_detail::kHostFreezeLostS);
  EXPECT_THAT(m.current_why(), HasSubstr("steal"));
}

// The initramfs is a newc cpio archive (written by libarchive) that the
// kernel's unpacker takes: every parent directory before its entries, the
// console device, /init executable, the guest files at their host paths, the
// kernel's config at /boot/config-<release>.
TEST(Initramfs, IsANewcArchiveWithParentsFirst) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / fmt::format("aq-initramfs-test-{}", getpid());
  fs::create_directories(dir / "input");
  { std::ofstream(dir / "input" / "a.job") << "x\n"; }
  { std::ofstream(dir / "config") << "CONFIG_NR_CPUS=64\n"; }
  aq::VmOptions o;
  o.cache_dir = (dir / "cache").string();
  const aq::vm_detail::Kernel kernel{"/nonexistent/vmlinuz", "9.9.9 (test)", dir / "config", "9.9.9-test"};
  const auto image = aq::vm_detail::prepare_initramfs(o, kernel, "/bin/busybox", {dir / "input"}, dir);
  int status = 0;
  const auto listing = aq::vm_detail::capture_output({"sh", "-c", "cpio -itv --quiet < " + image.string()}, status);
  ASSERT_EQ(status, 0) << listing;
  const auto lines = aq::lines_of(listing);
  std::vector<std::string> names;
  for (auto l : lines) names.emplace_back(l.substr(l.rfind(' ') + 1));
  auto index = [&](const std::string& n) {
    const auto it = std::find(names.begin(), names.end(), n);
    EXPECT_NE(it, names.end()) << n << " missing from:\n" << listing;
    return it - names.begin();
  };
  EXPECT_LT(index("dev"), index("dev/console"));
  EXPECT_LT(index("bin"), index("bin/busybox"));
  const auto input = (dir / "input" / "a.job").string().substr(1);
  EXPECT_LT(index(fs::path(input).parent_path().string()), index(input));
  EXPECT_LT(index("boot"), index("boot/config-9.9.9-test"));  // for libbpf's __kconfig externs
  for (auto l : lines) {
    if (l.ends_with(" dev/console")) EXPECT_TRUE(l.starts_with("crw-------")) << l;
    if (l.ends_with(" init")) EXPECT_TRUE(l.starts_with("-rwxr-xr-x")) << l;
    if (l.ends_with(" tmp")) EXPECT_TRUE(l.starts_with("drwxrwxrwt")) << l;
    if (l.find(" bin/sh -> busybox") != std::string_view::npos) EXPECT_TRUE(l.starts_with("l")) << l;
  }
  EXPECT_NE(listing.find(" bin/sh -> busybox"), std::string::npos) << listing;
  // Cached: the same inputs give the same image.
  EXPECT_EQ(aq::vm_detail::prepare_initramfs(o, kernel, "/bin/busybox", {dir / "input"}, dir), image);
  fs::remove_all(dir);
}

// A kernel problem line the guest's report already judged (a failure reason,
// or an earlier attempt retried after a host stall) is not counted again by
// the host's console scan; one the guest never saw still is.
TEST(ScanConsole, LinesTheGuestJudgedAreNotCountedTwice) {
  const std::string ejected = "[  122.986732] sched_ext: BPF scheduler \"aqmap\" disabled (scx_bpf_error)";
  const std::string other = "[    1.000000] WARNING: CPU: 0 PID: 1 at somewhere";
  const nlohmann::json report{
      {"cases", {{{"host_stall_retries", {{{"failures", {"kernel log: " + ejected + "; host stall: ..."}}}}}}}}};
  const std::map<std::string, std::string> files{{"run.json", report.dump(2)}, {"notes.md", "nothing"}};
  EXPECT_EQ(aq::unjudged_problems({ejected, other}, files), std::vector<std::string>{other});
  // Without the guest's report, every line counts.
  EXPECT_EQ(aq::unjudged_problems({ejected}, {}), std::vector<std::string>{ejected});
  // The raw text of a non-JSON file counts as judged text too.
  EXPECT_TRUE(aq::unjudged_problems({ejected}, {{"run.md", "- **nice-churn**: kernel log: " + ejected}}).empty());
}
