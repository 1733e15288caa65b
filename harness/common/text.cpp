#include "common/text.hpp"

#include <cstdlib>

namespace aq {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::string shell_quote(std::string_view s) {
  constexpr std::string_view safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+./:=,@%";
  if (!s.empty() && s.find_first_not_of(safe) == std::string_view::npos) return std::string(s);
  std::string quoted = "'";
  for (const char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) {
    if (!line.empty()) line += ' ';
    line += shell_quote(a);
  }
  return line;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' ? ' ' : c;
    }
  }
  return out;
}

std::string html_path_beside(std::string_view report_path) {
  for (const std::string_view ext : {".md", ".json"})
    if (report_path.ends_with(ext)) return std::string(report_path.substr(0, report_path.size() - ext.size())) + ".html";
  return std::string(report_path) + ".html";
}

std::string kernel_series(std::string_view release) {
  const auto dot = release.find('.');
  if (dot == std::string_view::npos) return std::string(release);
  return std::string(release.substr(0, release.find_first_not_of("0123456789", dot + 1)));
}

std::string rerun_kernel(std::string_view release) {
  if (const char* k = std::getenv("AQCHECK_HOST_KERNEL"); k && *k) return k;
  return kernel_series(release);
}

}  // namespace aq
