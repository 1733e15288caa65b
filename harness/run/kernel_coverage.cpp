#include "run/kernel_coverage.hpp"

#include "common/exit_codes.hpp"

#include <sys/mount.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace aq {

namespace fs = std::filesystem;

std::string kernel_coverage_unavailable() {
  std::error_code ec;
  if (fs::is_empty("/sys/kernel/debug", ec))  // debugfs not mounted yet; if it cannot be, the check below says
    ::mount("debugfs", "/sys/kernel/debug", "debugfs", 0, nullptr);
  if (fs::exists(fs::path(kGcovDir) / "reset", ec)) return {};
  return fmt::format("this kernel keeps no gcov data ({} is missing): build it with "
                     "ci/build-kernel.sh --profile coverage",
                     kGcovDir);
}

void reset_kernel_coverage() {
  std::ofstream reset(fs::path(kGcovDir) / "reset");
  reset << "1\n";
  reset.flush();
  if (!reset) throw std::runtime_error(fmt::format("cannot reset {}/reset: {}", kGcovDir, std::strerror(errno)));
}

int save_kernel_coverage(const std::string& dir) {
  int n = 0;
  for (auto it = fs::recursive_directory_iterator(kGcovDir); it != fs::recursive_directory_iterator(); ++it) {
    // Regular files only: each .gcno beside a .gcda is a link into the build
    // tree, which the host has.
    if (it->is_symlink() || !it->is_regular_file() || it->path().extension() != ".gcda") continue;
    const auto to = fs::path(dir) / fs::relative(it->path(), kGcovDir);
    fs::create_directories(to.parent_path());
    // debugfs reports no size: read it as a stream, not with copy_file.
    std::ifstream in(it->path(), std::ios::binary);
    std::ofstream out(to, std::ios::binary);
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) out.write(buf, in.gcount());
    if (in.bad()) throw std::runtime_error(fmt::format("cannot read {}", it->path().string()));
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", to.string()));
    n++;
  }
  return n;
}

int begin_kernel_coverage() {
  if (const auto why = kernel_coverage_unavailable(); !why.empty()) {
    fmt::print(stderr, "aqcheck: error: --kernel-coverage: {}\n", why);
    return exit_code::no_kernel_coverage;
  }
  try {
    reset_kernel_coverage();
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: --kernel-coverage: {}\n", e.what());
    return exit_code::internal;
  }
  return exit_code::pass;
}

int end_kernel_coverage(const std::string& dir, const std::string& name, const std::string& who) {
  try {
    const int files = save_kernel_coverage((fs::path(dir) / name).string());
    fmt::print("aqcheck: {}: kernel coverage: {} gcov file(s) in {}/{}\n", who, files, dir, name);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: --kernel-coverage: {}\n", e.what());
    return exit_code::internal;
  }
  return exit_code::pass;
}

}  // namespace aq
