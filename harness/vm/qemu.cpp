// Booting the guest under qemu and turning what comes back into one exit
// code: reports copied to the host paths asked for, or one error line.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <system_error>
#include <thread>

#include "common/exit_codes.hpp"
#include "common/proc_files.hpp"
#include "common/text.hpp"
#include "vm/host_freeze.hpp"
#include "vm/internal.hpp"

namespace aq {
using namespace vm_detail;
using namespace std::chrono_literals;
namespace {

fs::path make_run_dir(const VmOptions& o) {
  if (!o.console_log.empty()) {
    const auto dir = fs::absolute(o.console_log).parent_path();
    fs::create_directories(dir);
    return dir;
  }
  const auto now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::array<char, 32> stamp{};
  std::strftime(stamp.data(), stamp.size(), "%Y%m%d-%H%M%S", &tm);
  fs::create_directories("out");
  for (int n = 1;; ++n) {
    auto dir = fs::absolute("out") / (n == 1 ? fmt::format("vm-{}", stamp.data())
                                             : fmt::format("vm-{}-{}", stamp.data(), n));
    if (fs::create_directory(dir)) return dir;
  }
}

struct QemuRun {
  bool timed_out = false;
  int status = 0;             // waitpid status
  std::string console;        // the whole serial console
  double init_seen_s = -1;    // host seconds from start to the guest's first line
  std::string host_freeze;    // why the boot was ended as lost to the host, or ""
};

pid_t spawn(const std::vector<std::string>& argv, const fs::path& output) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive aqcheck
    if (getppid() != parent) _exit(127);
    if (const int null = open("/dev/null", O_RDONLY); null >= 0) dup2(null, STDIN_FILENO);
    if (const int log = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644); log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    execvp(cargv[0], cargv.data());
    const int err = errno;
    [[maybe_unused]] auto n = write(errpipe[1], &err, sizeof err);
    _exit(127);
  }
  close(errpipe[1]);
  int err = 0;
  ssize_t n;
  while ((n = read(errpipe[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  close(errpipe[0]);
  if (n == sizeof err) {
    waitpid(pid, nullptr, 0);
    throw VmError(exit_code::vm_failed,
                  fmt::format("cannot run {}: {}", argv.front(), std::strerror(err)));
  }
  return pid;
}

QemuRun run_qemu(const std::vector<std::string>& argv, const fs::path& console_log,
                 const fs::path& qemu_output, const VmOptions& o) {
  write_file(console_log, "");  // qemu appends to nothing; we tail it from the start
  const int console = open(console_log.c_str(), O_RDONLY | O_CLOEXEC);
  if (console < 0)
    throw VmError(exit_code::internal, fmt::format("cannot open {}", console_log.string()));

  QemuRun run;
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::seconds(o.timeout_s);
  const pid_t pid = spawn(argv, qemu_output);
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  HostFreezeMeter freeze(pid, console_log.string() + ".host");
  std::size_t console_judged = 0;  // through the last whole line scanned for standstills

  constexpr std::string_view guest_hello = "aqcheck-guest: kernel";
  const auto pump = [&] {
    std::array<char, 65536> buf{};
    for (ssize_t n; (n = read(console, buf.data(), buf.size())) > 0;) {
      const auto from = run.console.size() >= guest_hello.size() ? run.console.size() - guest_hello.size() : 0;
      run.console.append(buf.data(), static_cast<std::size_t>(n));
      if (run.init_seen_s < 0 && run.console.find(guest_hello, from) != std::string::npos)
        run.init_seen_s = std::chrono::duration<double>(Clock::now() - started).count();
      if (o.stream_console) {
        std::fwrite(buf.data(), 1, static_cast<std::size_t>(n), stdout);
        std::fflush(stdout);
      }
    }
  };
  const auto reap = [&](bool block) {
    pid_t r;
    while ((r = waitpid(pid, &run.status, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
    }
    return r == pid;
  };

  while (true) {
    pump();
    if (reap(false)) break;
    freeze.poll(Clock::now());
    if (freeze.current_s() >= kHostFreezeLostS)
      run.host_freeze = fmt::format("the host did not run the guest for {:.0f} s ({})", freeze.current_s(),
                                    freeze.current_why());
    const auto whole = run.console.rfind('\n');
    std::vector<double> standstills;
    if (whole != std::string::npos && whole + 1 > console_judged) {
      standstills = guest_standstills(std::string_view(run.console).substr(console_judged, whole + 1 - console_judged));
      console_judged = whole + 1;
    }
    for (const double still : standstills) {
      if (still < kHostFreezeLostS) continue;
      const double share = freeze.qemu_least_cpu_share(still);
      if (share >= 0 && share < kQemuBlockedShare)
        run.host_freeze = fmt::format("the guest stood still {:.0f} s while qemu used {:.2f} CPU-s/s: qemu was blocked "
                                      "on the host (its I/O, its own lock, a freezer), neither stopped nor kept "
                                      "waiting for a CPU",
                                      still, share);
      else
        fmt::print(stderr, "aqcheck: vm: the guest stood still {:.0f} s while qemu used {:.2f} CPU-s/s: the guest "
                   "kernel itself stood still\n", still, share);
    }
    if (!run.host_freeze.empty()) {
      kill(pid, SIGKILL);
      reap(true);
      break;
    }
    if (Clock::now() >= deadline) {
      run.timed_out = true;
      kill(pid, SIGTERM);
      const auto grace = Clock::now() + 3s;
      bool gone = false;
      while (!(gone = reap(false)) && Clock::now() < grace) std::this_thread::sleep_for(50ms);
      if (!gone) {
        kill(pid, SIGKILL);
        reap(true);
      }
      break;
    }
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, 100);
    } else {
      std::this_thread::sleep_for(100ms);
    }
  }
  pump();
  if (pidfd >= 0) close(pidfd);
  close(console);
  return run;
}

std::vector<std::string> qemu_command(const VmOptions& o, const Kernel& kernel,
                                      const fs::path& initramfs, const std::string& cmdline,
                                      const fs::path& console_log, const fs::path& data_log) {
  std::vector<std::string> argv{"qemu-system-x86_64", "-nodefaults", "-no-user-config",
                                "-display", "none", "-no-reboot"};
  if (o.accel == "tcg") {
    argv.insert(argv.end(), {"-accel", "tcg,thread=multi", "-cpu", "max"});
  } else if (o.accel == "tcg-single") {
    // One host thread for all vCPUs: slower, but cross-CPU code patching
    // (static keys flipped by every sched_ext enable/disable) is coherent;
    // multi-threaded TCG has been seen to Oops on int3 in __schedule there.
    argv.insert(argv.end(), {"-accel", "tcg,thread=single", "-cpu", "max"});
  } else if (o.accel == "kvm") {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", o.accel, "-cpu", "max"});
  }
  argv.insert(argv.end(), {"-smp", std::to_string(o.cpus), "-m", std::to_string(o.mem_mb),
                           "-kernel", kernel.image.string(), "-initrd", initramfs.string(),
                           "-append", cmdline,
                           "-serial", "file:" + console_log.string(),
                           "-serial", "file:" + data_log.string(),
                           "-device", std::string(isa_debug_exit)});
  return argv;
}

// Why qemu ended without a verdict, in one line.
std::string failure_reason(const QemuRun& run, const fs::path& qemu_output) {
  for (const auto line : lines_of(run.console)) {
    if (const auto at = line.find("Kernel panic - not syncing: "); at != std::string_view::npos)
      return fmt::format("kernel panic: {}", line.substr(at + 28));
  }
  if (const auto out = slurp(qemu_output)) {
    const auto lines = lines_of(trim(*out));
    if (!lines.empty() && !trim(lines.back()).empty())
      return fmt::format("qemu: {}", trim(lines.back()));
  }
  if (WIFSIGNALED(run.status)) return fmt::format("qemu killed by signal {}", WTERMSIG(run.status));
  const int status = WEXITSTATUS(run.status);
  if (status == 0) return "the guest powered off";
  if (status & 1) return fmt::format("guest exited through isa-debug-exit with {}", status >> 1);
  return fmt::format("qemu exited with status {}", status);
}

// "2.41 s" from the guest's "/init at 2.41 s uptime" line, or "".
std::string guest_init_uptime(std::string_view console) {
  constexpr std::string_view tag = "aqcheck-guest: /init at ";
  const auto at = console.find(tag);
  if (at == std::string_view::npos) return {};
  const auto rest = console.substr(at + tag.size());
  return std::string(rest.substr(0, rest.find(" s ")));
}


// Boots per run, for guests lost to the emulator or the host rather than to
// the kernel under test.
constexpr int kMaxBoots = 3;
constexpr std::string_view kTcgOopsLost =
    "the guest died of an int3 Oops at a live-patched jump label, a known defect of multi-threaded TCG with "
    "kernel code patching (not a verdict)";

int run_vm_checked(const VmOptions& o, const std::vector<std::string>& run_args) {
  if (o.cpus < 1 || o.mem_mb < 256 || o.timeout_s < 1)
    throw VmError(exit_code::usage, "VM needs cpus >= 1, mem >= 256 MiB and timeout >= 1 s");
  const auto kernel = resolve_kernel(o);

  const fs::path aqcheck = o.aqcheck_exe.empty() ? fs::read_symlink("/proc/self/exe")
                                                 : fs::path(o.aqcheck_exe);
  if (const auto why = static_elf_problem(aqcheck); !why.empty())
    throw VmError(exit_code::usage, fmt::format("guest executable {} {}", aqcheck.string(), why));

  const auto guest = rewrite_run_args(run_args);
  std::vector<fs::path> inputs;
  for (const auto& path : o.guest_files) inputs.push_back(fs::absolute(path).lexically_normal());
  for (const auto& path : guest.inputs) inputs.push_back(fs::absolute(path).lexically_normal());
  for (const auto& a : run_args)
    if (contains(a, "\n"))
      throw VmError(exit_code::usage, "run arguments for the VM must not contain newlines");
  const auto argv_in_guest = guest_argv(o.subcommand, run_args, guest, fs::current_path().string(),
                                        fs::read_symlink("/proc/self/exe").string());
  // What init reads from /proc/cmdline: the arguments and the directory to run in.
  // A kernel given as a path (ci/build-kernel.sh's) goes into rerun commands
  // as that path, not as the series its release starts with.
  const auto host_kernel = kernel.given_as_path ? " aqcheck.kernel=" + base64_encode(kernel.image.string()) : "";
  const auto guest_params = fmt::format("aqcheck.args={} aqcheck.cwd={} aqcheck.dump_at={}{}",
                                        encode_run_args(argv_in_guest), base64_encode(fs::current_path().string()),
                                        guest_watchdog_uptime(o.timeout_s), host_kernel);
  if (guest_params.size() > max_guest_params)
    throw VmError(exit_code::usage,
                  fmt::format("run arguments too long for the kernel command line ({} bytes encoded, max {})",
                              guest_params.size(), max_guest_params));

  const auto run_dir = make_run_dir(o);
  const auto console_log = o.console_log.empty() ? run_dir / "console.log" : fs::absolute(o.console_log);
  const auto data_log = run_dir / "guest-data.log";
  const auto qemu_output = run_dir / "qemu.log";
  const auto initramfs = prepare_initramfs(o, kernel, aqcheck, inputs, run_dir);

  // tsc=reliable: under TCG the clocksource watchdog sees scheduling jitter as
  // TSC skew and, minutes in, marks the TSC unstable; the clock then jumps
  // (bpf_res_spin_lock reports spurious timeouts) and sched_clock's static
  // key is live-patched mid-run.  TCG's TSC follows the host clock: keep it.
  const auto cmdline = "console=ttyS0 panic=-1 tsc=reliable rdinit=/init " + guest_params;
  const auto argv = qemu_command(o, kernel, initramfs, cmdline, console_log, data_log);
  fmt::print(stderr, "aqcheck: vm: kernel {}\n", kernel.version);
  fmt::print(stderr, "aqcheck: vm: guest runs: /aqcheck {}\n", shell_join(argv_in_guest));
  fmt::print(stderr, "aqcheck: vm: {}\n", shell_join(argv));
  std::fflush(stderr);
  write_file(run_dir / "qemu-command.sh", "#!/bin/sh\nexec " + shell_join(argv) + "\n");
  QemuRun run;
  GuestData data;
  std::vector<LostBoot> lost_boots;
  for (int attempt = 1;; attempt++) {
    write_file(data_log, "");
    run = run_qemu(argv, console_log, qemu_output, o);
    data = decode_guest_data(slurp(data_log).value_or(""));
    // Boot again, at most twice, for a guest lost to the emulator or the host
    // rather than to the kernel under test; each lost console log is kept.
    std::string lost_because;
    if (!run.host_freeze.empty())
      lost_because = fmt::format("{}: from {:.0f} s the guest kernel reports lockups and RCU stalls of its own, and "
                                 "the guest is not trusted after them (not a verdict)",
                                 run.host_freeze, kHostFreezeLostS);
    else if (!data.exit_code && !run.timed_out && o.accel == "tcg" && tcg_code_patching_oops(run.console))
      lost_because = kTcgOopsLost;
    if (lost_because.empty()) break;
    if (attempt >= kMaxBoots) {
      if (run.host_freeze.empty()) break;  // the Oops is reported as a FAIL below
      throw VmError(exit_code::vm_failed,
                    fmt::format("VM lost to the host in each of {} boots, no verdict: {}; console log: {}", kMaxBoots,
                                run.host_freeze, console_log.string()));
    }
    const auto lost = fmt::format("{}.lost{}", console_log.string(), attempt);
    fs::rename(console_log, lost);
    std::error_code ec;  // the host's readings of that boot go with it (the meter may have had no file)
    fs::rename(console_log.string() + ".host", lost + ".host", ec);
    lost_boots.push_back({lost, lost_because});
    fmt::print(stderr, "aqcheck: warning: {}; booting again (attempt {} of {}); that console log: {}\n", lost_because,
               attempt + 1, kMaxBoots, lost);
  }

  // Reports: every /out file is kept in the run directory; the redirected ones
  // also go where the user asked.
  for (const auto& [name, bytes] : data.files)
    if (safe_relative(name)) write_file(run_dir / "out" / name, bytes);
  for (const auto& r : guest.reports) {
    const auto name = r.guest_path.substr(std::string_view("/out/").size());
    if (r.directory) {
      // --out DIR: every file the guest wrote under it, at the same place
      // under DIR; a run report there (a batch's runs, fuzz's scenarios)
      // names the lost boots as a --json report does.
      int copied = 0;
      for (const auto& [file, bytes] : data.files)
        if (file.starts_with(name + "/") && safe_relative(file)) {
          const bool run_report = file.ends_with(".json") && contains(bytes, "\"aqcheck-report/1\"");
          write_file(fs::path(r.host_path) / file.substr(name.size() + 1),
                     run_report ? note_lost_boots("--json", bytes, lost_boots) : bytes);
          copied++;
        }
      if (copied > 0 || data.exit_code)
        fmt::print(stderr, "aqcheck: vm: wrote {} file(s) into {} {}\n", copied, r.option, r.host_path);
      continue;
    }
    if (const auto it = data.files.find(name); it != data.files.end()) {
      write_file(r.host_path, note_lost_boots(r.option, it->second, lost_boots));
      fmt::print(stderr, "aqcheck: vm: wrote {} {}\n", r.option, r.host_path);
      // `run --markdown F.md` writes its HTML page F.html beside it (report/html.hpp).
      if (const auto page = data.files.find(html_path_beside(name)); r.option == "--markdown" && page != data.files.end())
        write_file(html_path_beside(r.host_path), page->second);
    } else if (data.exit_code) {
      fmt::print(stderr, "aqcheck: warning: the guest wrote no {} report ({})\n", r.option, r.guest_path);
    }
  }

  int code;
  if (data.exit_code) {
    code = *data.exit_code;
    if (run.timed_out)
      fmt::print(stderr, "aqcheck: warning: the guest reported exit {} but did not power off within {} s\n",
                 code, o.timeout_s);
  } else if (run.timed_out) {
    fmt::print(stderr, "aqcheck: error: VM hung: no verdict after {} s (killed); console log: {}\n",
               o.timeout_s, console_log.string());
    code = exit_code::vm_timeout;
  } else if (const auto why = watchdog_verdict(run.console); !why.empty()) {
    fmt::print(stderr, "aqcheck: error: VM hung: {} (ended by the guest watchdog); console log: {}\n", why,
               console_log.string());
    code = exit_code::vm_timeout;
  } else {
    fmt::print(stderr, "aqcheck: error: VM ended without a verdict ({}); console log: {}\n",
               failure_reason(run, qemu_output), console_log.string());
    code = exit_code::vm_failed;
  }

  for (const auto& problem : data.problems) fmt::print(stderr, "aqcheck: error: guest data: {}\n", problem);
  if (!data.problems.empty() && code == exit_code::pass) code = exit_code::vm_failed;

  const auto problems = scan_console(run.console, o.console_allow);
  const auto unjudged = unjudged_problems(problems, data.files);
  if (problems.size() > unjudged.size())
    fmt::print(stderr, "aqcheck: vm: {} kernel problem line(s) in the console are judged in the guest's report\n",
               problems.size() - unjudged.size());
  if (!unjudged.empty()) {
    fmt::print(stderr, "aqcheck: kernel problems in the console log:\n");
    for (const auto& line : unjudged) fmt::print(stderr, "  {}\n", line);
    if (code == exit_code::pass) code = exit_code::fail;
  }

  std::string boot;
  if (const auto uptime = guest_init_uptime(run.console); !uptime.empty())
    boot = fmt::format(", /init at {} s guest uptime ({:.1f} s wall)", uptime, run.init_seen_s);
  fmt::print(stderr, "aqcheck: vm: kernel {}{}, exit {}; console log: {}\n", kernel.version, boot, code,
             console_log.string());
  return code;
}

}  // namespace

int run_vm(const VmOptions& options, const std::vector<std::string>& run_args) {
  try {
    return run_vm_checked(options, run_args);
  } catch (const VmError& e) {
    fmt::print(stderr, "aqcheck: error: {}\n", e.what());
    return e.code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: VM: {}\n", e.what());
    return exit_code::internal;
  }
}

}  // namespace aq
