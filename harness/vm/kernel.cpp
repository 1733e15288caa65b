// The executables that go into a guest and the kernel it boots.
#include <elf.h>

#include <fmt/format.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include "common/exit_codes.hpp"
#include "common/proc_files.hpp"
#include "common/text.hpp"
#include "vm/internal.hpp"

namespace aq::vm_detail {
namespace {

// The version string a bzImage carries in its setup header, or "".
std::string bzimage_version(const fs::path& image) {
  std::ifstream in(image, std::ios::binary);
  std::array<char, 0x4000> head{};
  in.read(head.data(), head.size());
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got < 0x210 || std::string_view(head.data() + 0x202, 4) != "HdrS") return {};
  const auto offset = 0x200U + (static_cast<unsigned char>(head[0x20e]) |
                                static_cast<unsigned>(static_cast<unsigned char>(head[0x20f])) << 8);
  if (offset >= got) return {};
  const std::string_view rest(head.data() + offset, got - offset);
  return std::string(rest.substr(0, std::min(rest.find('\0'), rest.find(' '))));
}

bool is_series(std::string_view s) {
  const auto dot = s.find('.');
  const auto digits = [](std::string_view d) {
    return !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return dot != std::string_view::npos && digits(s.substr(0, dot)) && digits(s.substr(dot + 1));
}

}  // namespace

std::string static_elf_problem(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh)) return "cannot be read or is too short";
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return "is not an ELF file";
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
    return "is not an x86-64 executable";
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + std::uint64_t{i} * eh.e_phentsize));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof ph)) return "has a truncated program header";
    if (ph.p_type == PT_INTERP) return "is dynamically linked (build it with -static)";
  }
  return {};
}


Kernel resolve_kernel(const VmOptions& o) {
  Kernel k;
  fs::path version_file;
  if (is_series(o.kernel)) {
    const auto dir = fs::path(o.cache_dir) / "kernels" / o.kernel;
    k.image = dir / "vmlinuz";
    version_file = dir / "version";
    if (auto r = slurp(dir / "release"); r && fs::is_regular_file(dir / "config")) {
      k.release = trim(*r);
      k.config = dir / "config";
    }
    if (!fs::is_regular_file(k.image))
      throw VmError(exit_code::no_kernel,
                    fmt::format("no kernel image for {} at {}: run ci/setup.sh --kernel {}", o.kernel,
                                k.image.string(), o.kernel));
  } else {
    k.given_as_path = true;
    k.image = o.kernel;
    version_file = k.image.parent_path() / "version";
    if (!fs::is_regular_file(k.image))
      throw VmError(exit_code::no_kernel, fmt::format("no kernel image at {}", o.kernel));
  }
  if (auto v = slurp(version_file)) k.version = trim(*v);
  if (k.version.empty()) k.version = bzimage_version(k.image);
  if (k.version.empty()) k.version = "unknown (not a bzImage)";
  k.image = fs::absolute(k.image);
  return k;
}

std::vector<fs::path> shared_libraries(const fs::path& exe) {
  int status = 0;
  const auto out = capture_output({"ldd", exe.string()}, status);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw VmError(exit_code::vm_failed, fmt::format("ldd {} failed", exe.string()));
  std::vector<fs::path> libs;
  for (auto line : lines_of(out)) {
    line = trim(line);
    if (const auto arrow = line.find("=>"); arrow != std::string_view::npos) {
      line = trim(line.substr(arrow + 2));
      if (line.starts_with("not found"))
        throw VmError(exit_code::vm_failed,
                      fmt::format("{}: a shared library is missing on the host", exe.string()));
    }
    if (line.starts_with('/')) libs.emplace_back(line.substr(0, line.find(" (")));
  }
  return libs;
}

}  // namespace aq::vm_detail
