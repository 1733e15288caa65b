// Reading the small text files of /proc and /sys (and any other file whole),
// shared by the harness, the VM runner and the guest watchdog.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

namespace aq {

// The whole file, or nullopt if it cannot be opened.
inline std::optional<std::string> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Seconds since boot (/proc/uptime), as the kernel log stamps its lines.
inline double uptime_s() {
  std::ifstream in("/proc/uptime");
  double up = 0;
  in >> up;
  return up;
}

}  // namespace aq
