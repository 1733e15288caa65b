// The guest's side of a VM run, and what passes between host and guest:
// the arguments it runs with (host paths rewritten to /out), the files and
// exit code it sends back over the second serial port, and its way out.
#include <fcntl.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <set>

#include "common/exit_codes.hpp"
#include "common/text.hpp"
#include "vm/internal.hpp"

namespace aq {
using namespace vm_detail;
namespace {

void drain(const char* tty) {
  if (const int fd = open(tty, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC); fd >= 0) {
    tcdrain(fd);
    close(fd);
  }
}


}  // namespace

// A guest file name relative to /out that is safe to join to a host directory.
bool vm_detail::safe_relative(std::string_view name) {
  if (name.empty() || name.starts_with('/')) return false;
  for (const auto& part : fs::path(name))
    if (part == ".." || part == ".") return false;
  return true;
}

// Boots allowed for one run when multi-threaded TCG kills the guest (see
// tcg_code_patching_oops): at ~1.6% per enable/disable, a run of eleven
// workloads is lost ~16% of the time, three times in a row ~0.4%.

GuestCommand rewrite_run_args(const std::vector<std::string>& run_args) {
  constexpr std::array<std::string_view, 6> report_options{"--json",      "--junit", "--markdown",
                                                          "--ktap",      "--out",   "--kernel-coverage"};
  const auto is_report = [&](std::string_view option) {
    return std::find(report_options.begin(), report_options.end(), option) != report_options.end();
  };
  GuestCommand cmd;
  std::set<std::string> used;
  const auto redirect = [&](const std::string& option, const std::string& host_path) {
    const auto base = fs::path(host_path).filename().string();
    auto name = base.empty() ? option.substr(2) : base;
    for (int n = 2; !used.insert(name).second; ++n) name = fmt::format("{}-{}", n, base);
    cmd.reports.push_back({option, host_path, "/out/" + name, option == "--out" || option == "--kernel-coverage"});
    return cmd.reports.back().guest_path;
  };

  for (std::size_t i = 0; i < run_args.size(); ++i) {
    const auto& arg = run_args[i];
    if (arg == "--") {  // the rest is not ours to interpret
      cmd.args.insert(cmd.args.end(), run_args.begin() + static_cast<std::ptrdiff_t>(i), run_args.end());
      break;
    }
    const auto eq = arg.find('=');
    const bool attached = arg.starts_with("--") && eq != std::string::npos;  // --option=value
    const auto option = attached ? arg.substr(0, eq) : arg;
    const bool input_file = option == "--workloads-dir" || option == "--replay" || option == "--plan" || option == "--runner" ||
                            option == "--tests-file" || option == "--thresholds" || option == "--baseline-report";
    if (!is_report(option) && option != "--workload" && !input_file) {
      cmd.args.push_back(arg);
      continue;
    }
    std::string value;
    if (attached) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < run_args.size() && !run_args[i + 1].starts_with('-')) {
      value = run_args[++i];
    } else {  // no value: left for the guest's parser to reject
      cmd.args.push_back(arg);
      continue;
    }
    if (is_report(option)) {
      if (!value.empty() && value != "-") value = redirect(option, value);
    } else if (input_file || contains(value, "/") ||
               value.ends_with(".job")) {
      cmd.inputs.push_back(value);
    }
    if (attached) {
      cmd.args.push_back(option + "=" + value);
    } else {
      cmd.args.push_back(option);
      cmd.args.push_back(value);
    }
  }
  return cmd;
}

std::vector<std::string> guest_argv(const std::string& subcommand, const std::vector<std::string>& run_args,
                                    const GuestCommand& cmd, const std::string& host_cwd, const std::string& host_exe) {
  std::vector<std::string> hidden{"--host-command", subcommand};
  if (!run_args.empty()) hidden.back() += " " + shell_join(run_args);
  if (!host_exe.empty()) hidden.insert(hidden.end(), {"--host-exe", host_exe});
  for (const auto& r : cmd.reports)
    if (r.option == "--out")  // fuzz names its files by where the host will find them
      hidden.insert(hidden.end(), {"--host-out", (fs::path(host_cwd) / r.host_path).lexically_normal().string()});
  std::vector<std::string> argv{subcommand};
  const auto dashes = std::find(cmd.args.begin(), cmd.args.end(), "--");
  argv.insert(argv.end(), cmd.args.begin(), dashes);
  argv.insert(argv.end(), hidden.begin(), hidden.end());
  argv.insert(argv.end(), dashes, cmd.args.end());
  return argv;
}

GuestData decode_guest_data(std::string_view stream) {
  GuestData data;
  struct Open {
    std::string name;
    std::size_t size;
    std::string base64;
  };
  std::optional<Open> open;
  const auto marker = [](std::string_view line, std::string_view tag) -> std::optional<std::string_view> {
    if (!line.starts_with(tag) || !line.ends_with("@@") || line.size() < tag.size() + 2) return std::nullopt;
    return line.substr(tag.size(), line.size() - tag.size() - 2);
  };

  for (const auto line : lines_of(stream)) {
    if (open) {
      if (line == "@@AQ-END@@") {
        auto bytes = base64_decode(open->base64);
        if (!bytes)
          data.problems.push_back(fmt::format("{}: corrupt base64", open->name));
        else if (bytes->size() != open->size)
          data.problems.push_back(
              fmt::format("{}: got {} bytes, expected {}", open->name, bytes->size(), open->size));
        else
          data.files[open->name] = std::move(*bytes);
        open.reset();
        continue;
      }
      if (!line.starts_with("@@AQ-")) {
        open->base64 += line;
        continue;
      }
      data.problems.push_back(fmt::format("{}: truncated (no end marker)", open->name));
      open.reset();
    }
    if (const auto header = marker(line, "@@AQ-FILE ")) {
      const auto space = header->rfind(' ');
      std::size_t size = 0;
      const auto size_text = space == std::string_view::npos ? std::string_view{} : header->substr(space + 1);
      const auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
      const auto name = header->substr(0, space == std::string_view::npos ? 0 : space);
      if (size_text.empty() || ec != std::errc{} || end != size_text.data() + size_text.size() ||
          !safe_relative(name))
        data.problems.push_back(fmt::format("bad file header: {}", line));
      else
        open = Open{std::string(name), size, {}};
    } else if (const auto body = marker(line, "@@AQ-EXIT ")) {
      int code = 0;
      const auto [end, ec] = std::from_chars(body->data(), body->data() + body->size(), code);
      if (ec != std::errc{} || end != body->data() + body->size())
        data.problems.push_back(fmt::format("bad exit marker: {}", line));
      else
        data.exit_code = code;
    }
  }
  if (open) data.problems.push_back(fmt::format("{}: truncated (no end marker)", open->name));
  return data;
}

std::string encode_run_args(const std::vector<std::string>& args) {
  std::string lines;
  for (const auto& a : args) lines += a + '\n';
  return base64_encode(lines);
}

bool inside_aqcheck_vm() {
  const char* env = std::getenv("AQCHECK_GUEST");
  return env != nullptr && std::string_view(env) == "1" && access(guest_marker_file.data(), F_OK) == 0;
}

int guest_watchdog_uptime(int timeout_s) {
  // A minute before the kill (a quarter of the timeout for short ones).
  return std::max(1, timeout_s - std::min(60, timeout_s / 4));
}

int guest_exit(int code) {
  if (!inside_aqcheck_vm()) {
    fmt::print(stderr, "aqcheck: error: guest-exit only works inside an aqcheck VM\n");
    return exit_code::usage;
  }
  // Let the report frames and the console drain before qemu goes away.
  drain("/dev/ttyS1");
  drain("/dev/console");
  sync();
#if defined(__x86_64__) || defined(__i386__)
  if (ioperm(0xf4, 4, 1) == 0) outb(static_cast<unsigned char>(code), 0xf4);
#endif
  // No isa-debug-exit device: the same as `poweroff -f`; the host still has
  // the @@AQ-EXIT@@ marker.
  reboot(RB_POWER_OFF);
  fmt::print(stderr, "aqcheck: error: guest-exit: {}\n", std::strerror(errno));
  return exit_code::internal;
}

}  // namespace aq
