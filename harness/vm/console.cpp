// Reading a guest's serial console: the kernel's complaints, the guest
// watchdog's verdict, and the emulator defect that loses boots.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "common/text.hpp"
#include "vm/guest_watchdog.hpp"
#include "vm/vm.hpp"

namespace aq {
namespace {

// "[    5.681110] message": printk's timestamp prefix.
bool is_printk_line(std::string_view line) {
  if (line.size() < 4 || line[0] != '[') return false;
  const auto close = line.find("] ");
  if (close == std::string_view::npos || close < 2) return false;
  bool dot = false;
  for (char c : line.substr(1, close - 1)) {
    if (c == '.') dot = true;
    else if (c != ' ' && (c < '0' || c > '9')) return false;
  }
  return dot;
}

}  // namespace

std::vector<std::string> scan_console(const std::string& text, const std::vector<std::string>& allowed) {
  std::vector<std::string> found;
  for (const auto line : lines_of(text)) {
    // Only the kernel's own lines ("[  12.345678] ..."): programs in the guest
    // share the console and may print "WARNING:" about themselves.
    if (!is_printk_line(line)) continue;
    if (std::any_of(allowed.begin(), allowed.end(), [&](const auto& a) { return contains(line, a); })) continue;
    if (contains(line, "WARNING:") || contains(line, "BUG:") || contains(line, "Oops:") ||
        contains(line, "Kernel panic") || is_hang_report(line) || is_scheduler_exit(line))
      found.emplace_back(line);
  }
  return found;
}

std::vector<double> guest_standstills(std::string_view console) {
  std::vector<double> out;
  for (auto at = console.find(guest_stood_still); at != std::string_view::npos;
       at = console.find(guest_stood_still, at + 1)) {
    const auto rest = console.substr(at + guest_stood_still.size());
    double s = 0;
    if (std::sscanf(std::string(rest.substr(0, rest.find(' '))).c_str(), "%lf", &s) == 1) out.push_back(s);
  }
  return out;
}

bool is_scheduler_exit(std::string_view line) {
  return contains(line, "sched_ext: ") && contains(line, " disabled (") &&
         !contains(line, " disabled (unregistered from user space)");
}

bool is_hang_report(std::string_view line) {
  return contains(line, "blocked for more than") || (contains(line, "rcu") && contains(line, "detected stall"));
}

std::string watchdog_verdict(std::string_view console) {
  const auto at = console.find(guest_watchdog_ended);
  if (at == std::string_view::npos) return {};
  const auto rest = console.substr(at + guest_watchdog_ended.size());
  return std::string(trim(rest.substr(0, rest.find('\n'))));
}

bool tcg_code_patching_oops(std::string_view console) {
  const auto oops = console.find("Oops: int3");
  if (oops == std::string_view::npos) return false;
  const auto code = console.find("Code: ", oops);
  if (code == std::string_view::npos) return false;
  auto end = console.find('\n', code);
  std::string_view line = console.substr(code, end == std::string_view::npos ? end : end - code);
  // "... <prev> <xx> next ...": the trap address is the byte after the int3.
  const auto mark = line.find('<');
  if (mark == std::string_view::npos || mark < 3) return false;
  const auto prev = line.substr(mark - 3, 2);
  const auto at = line.substr(mark, 4);
  // The int3 stood where text_poke_bp() puts it: on the first byte of a
  // jump-label or static-call site, and that byte is back already: a 5-byte
  // NOP (0f 1f 44 00 00), a 2-byte NOP (66 90), a jmp (e9 / eb) or a call (e8).
  return (prev == "0f" && at == "<1f>" && line.substr(mark + 4, 6) == " 44 00") ||
         (prev == "66" && at == "<90>") || prev == "e9" || prev == "eb" || prev == "e8";
}

std::vector<std::string> unjudged_problems(const std::vector<std::string>& problems,
                                           const std::map<std::string, std::string>& guest_files) {
  std::string judged;
  const std::function<void(const nlohmann::json&)> strings = [&](const nlohmann::json& j) {
    if (j.is_string()) judged += j.get<std::string>() + "\n";
    else if (j.is_structured())
      for (const auto& v : j) strings(v);
  };
  for (const auto& [name, bytes] : guest_files) {
    const auto j = name.ends_with(".json") ? nlohmann::json::parse(bytes, nullptr, false) : nlohmann::json();
    if (!j.is_discarded() && !j.is_null()) strings(j);
    else judged += bytes;
  }
  std::vector<std::string> out;
  for (const auto& p : problems)
    if (!contains(judged, p)) out.push_back(p);
  return out;
}

std::string note_lost_boots(const std::string& option, const std::string& report,
                            const std::vector<LostBoot>& lost) {
  if (lost.empty()) return report;
  std::vector<std::string> consoles, because;
  for (const auto& b : lost) {
    consoles.push_back(b.console);
    because.push_back(b.because);
  }
  if (option == "--json") {
    auto j = nlohmann::json::parse(report, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return report;
    j["vm"] = {{"boots", lost.size() + 1}, {"lost_boots", consoles}, {"lost_because", because}};
    return j.dump(2) + "\n";
  }
  if (option == "--markdown") {
    std::string md = fmt::format("\n**This verdict took {} boots**; lost:\n", lost.size() + 1);
    for (const auto& b : lost) md += fmt::format("- {}: {}\n", b.console, b.because);
    return report + md;
  }
  return report;
}

}  // namespace aq
