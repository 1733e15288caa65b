// What the files of the VM runner share and nobody else needs: its error
// type, the guest's fixed names, and small host-side helpers.
#pragma once

#include "common/process.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vm/vm.hpp"

namespace aq::vm_detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Kernel command-line budget for the encoded guest parameters (x86
// COMMAND_LINE_SIZE is 2048; leave room for the fixed parameters).
inline constexpr std::size_t max_guest_params = 1900;
inline constexpr std::string_view isa_debug_exit = "isa-debug-exit,iobase=0xf4,iosize=0x04";
inline constexpr std::string_view guest_marker_file = "/etc/aqcheck-guest";

// A failure that ends run_vm with `code` and a one-line message.
struct VmError : std::runtime_error {
  VmError(int exit_code, const std::string& message) : std::runtime_error(message), code(exit_code) {}
  int code;
};

// host.cpp: files, programs, hashes.
void write_file(const fs::path& path, std::string_view data);
std::string base64_encode(std::string_view data);
// Decodes base64, ignoring whitespace; nullopt on any other stray character.
std::optional<std::string> base64_decode(std::string_view text);
std::uint64_t fnv1a(std::string_view data, std::uint64_t hash = 0xcbf29ce484222325ULL);
using aq::find_program;  // common/process.hpp
// Runs argv and returns its stdout; stderr is discarded.
std::string capture_output(const std::vector<std::string>& argv, int& status);

// kernel.cpp: the executables and the kernel a VM boots.
// Empty when `path` is a statically linked x86-64 ELF executable, else why not.
std::string static_elf_problem(const fs::path& path);
// Shared libraries of a dynamic executable, the dynamic loader included, at
// the paths the loader will look for them.
std::vector<fs::path> shared_libraries(const fs::path& exe);
struct Kernel {
  fs::path image;
  std::string version;
  // Its build config and `uname -r`, when setup cached them (a series):
  // the guest gets /boot/config-<release>, where libbpf resolves a BPF
  // program's __kconfig externs (the 7.3 selftest dsp_local_on's, for one).
  fs::path config;
  std::string release;
  bool given_as_path = false;  // --kernel named an image, not a series (rerun commands name it so)
};
Kernel resolve_kernel(const VmOptions& o);

// initramfs.cpp: builds (or reuses) the guest's initramfs.  Images are
// cached under <cache_dir>/initramfs keyed by a hash of the init script and
// the path, size and mtime of every host file.
fs::path prepare_initramfs(const VmOptions& o, const Kernel& kernel, const fs::path& aqcheck,
                           const std::vector<fs::path>& inputs, const fs::path& run_dir);

// guest.cpp: a guest file name relative to /out that is safe to join to a host directory.
bool safe_relative(std::string_view name);

}  // namespace aq::vm_detail
