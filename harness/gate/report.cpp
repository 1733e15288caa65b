#include "gate/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "common/text.hpp"
#include "report/html.hpp"
#include "report/report.hpp"

namespace aq::gate {
namespace {

using nlohmann::json;

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

int count(const Report& r, const char* verdict) {
  return static_cast<int>(std::count_if(r.cases.begin(), r.cases.end(), [&](auto& c) { return c.verdict == verdict; }));
}

std::string group_of(const Outcome& c) { return c.kernel.empty() ? "host" : c.kernel; }

}  // namespace

// Median ratio to EEVDF of config in a bench metric's figures, or nullopt.
std::optional<double> median_ratio(const json& metric, const std::string& config) {
  if (!metric.contains("ratio") || !metric["ratio"].contains(config)) return std::nullopt;
  const auto& r = metric["ratio"][config];
  if (!r.contains("median") || !r["median"].is_number()) return std::nullopt;
  return r["median"].get<double>();
}

// The threshold a check set for config/metric, as text ("" if none).
std::string threshold_of(const json& perf, const std::string& config, const std::string& metric) {
  if (!perf.contains("checks")) return "";
  for (const auto& c : perf["checks"])
    if (c.value("kind", "") == "threshold" && c.value("config", "") == config && c.value("metric", "") == metric)
      return fmt::format(">= {:.2f} {}", c.value("limit", 0.0), c.value("passed", false) ? "pass" : "**FAIL**");
  return "";
}

std::string performance_markdown(const json& performance) {
  if (performance.empty()) return "";
  std::string m = "\n## Performance\n\nRatio to EEVDF in the same boot, > 1 is better (times and latencies "
                  "inverted): median [min, max] over the rounds, and the threshold of ci/gate-thresholds.json.\n";
  for (const auto& [kernel, perf] : performance.items()) {
    m += fmt::format("\n### Kernel {} ({} rounds of {} s)\n\n", kernel, perf.value("rounds", 0), perf.value("duration_s", 0));
    m += "| metric | aqmap | threshold | aqmap-no-wake-preempt | threshold |\n|---|---:|---|---:|---|\n";
    if (!perf.contains("metrics")) continue;
    for (const auto& [name, metric] : perf["metrics"].items()) {
      m += "| " + name + " |";
      for (const char* config : {"aqmap", "aqmap-no-wake-preempt"}) {
        const auto r = metric.contains("ratio") && metric["ratio"].contains(config) ? metric["ratio"][config] : json();
        m += r.is_object() ? fmt::format(" {:.3f} [{:.3f}, {:.3f}] |", r.value("median", 0.0), r.value("min", 0.0),
                                         r.value("max", 0.0))
                           : " - |";
        m += " " + threshold_of(perf, config, name) + " |";
      }
      m += "\n";
    }
    if (perf.contains("op_costs") && perf["op_costs"].contains("arena_over_queue_map")) {
      const auto& oc = perf["op_costs"];
      const auto ns = [&](const char* b, const char* k) { return oc[b]["median"].value(k, 0.0); };
      m += fmt::format("\nFIFO operations timed in BPF, median ns: arena enqueue {:.0f}, dispatch {:.0f}, dequeue {:.0f}; "
                       "queue-map enqueue {:.0f}, dispatch {:.0f}, dequeue none (lazy). Per dispatched task: arena "
                       "{:.0f} ns, queue-map {:.0f} ns: **arena / queue-map = {:.2f}**.\n",
                       ns("arena", "enqueue_ns"), ns("arena", "dispatch_ns"), ns("arena", "dequeue_ns"),
                       ns("queue-map", "enqueue_ns"), ns("queue-map", "dispatch_ns"), ns("arena", "list_ns_per_task"),
                       ns("queue-map", "list_ns_per_task"), oc["arena_over_queue_map"].get<double>());
    }
  }
  return m;
}

bool Report::passed() const {
  return problems.empty() &&
         std::all_of(cases.begin(), cases.end(), [](const Outcome& c) { return c.verdict != "FAIL"; });  // INFO: not gating
}

json to_json(const Report& r) {
  json cases = json::array();
  for (const auto& c : r.cases)
    cases.push_back({{"id", c.id},
                     {"section", c.section},
                     {"kernel", c.kernel},
                     {"what", c.what},
                     {"verdict", c.verdict},
                     {"exit", c.exit},
                     {"wall_s", c.wall_s},
                     {"reasons", c.reasons},
                     {"expected_reason", c.expected_reason},
                     {"blind_spot", c.blind_spot},
                     {"kernel_release", c.kernel_release},
                     {"rerun", c.rerun},
                     {"report", c.report},
                     {"log", c.log}});
  return {{"schema", "aqcheck-gate/1"},
          {"verdict", r.passed() ? "PASS" : "FAIL"},
          {"profile", r.profile},
          {"kernels", r.kernels},
          {"shards", r.shards},
          {"command", r.command},
          {"elapsed_s", r.elapsed_s},
          {"passed", count(r, "PASS")},
          {"failed", count(r, "FAIL")},
          {"informational", count(r, "INFO")},
          {"problems", r.problems},
          {"performance", r.performance},
          {"cases", cases}};
}

Report from_json(const json& j) {
  if (!j.is_object() || j.value("schema", "") != "aqcheck-gate/1")
    throw std::runtime_error("not an aqcheck-gate/1 report");
  Report r;
  try {
    r.profile = j.at("profile").get<std::string>();
    r.kernels = j.at("kernels").get<std::vector<std::string>>();
    r.shards = j.at("shards").get<std::vector<std::string>>();
    r.command = j.value("command", "");
    r.elapsed_s = j.value("elapsed_s", 0.0);
    r.problems = j.value("problems", std::vector<std::string>{});
    r.performance = j.value("performance", json::object());
    if (!r.performance.is_object()) throw std::runtime_error("performance is not an object");
    for (const auto& c : j.at("cases")) {
      Outcome o;
      o.id = c.at("id").get<std::string>();
      o.section = c.at("section").get<std::string>();
      o.kernel = c.at("kernel").get<std::string>();
      o.what = c.value("what", "");
      o.verdict = c.at("verdict").get<std::string>();
      if (o.verdict != "PASS" && o.verdict != "FAIL" && o.verdict != "INFO")
        throw std::runtime_error("case " + o.id + ": bad verdict");
      o.exit = c.value("exit", -1);
      o.wall_s = c.value("wall_s", 0.0);
      o.reasons = c.value("reasons", std::vector<std::string>{});
      o.expected_reason = c.value("expected_reason", "");
      o.blind_spot = c.value("blind_spot", "");
      o.kernel_release = c.value("kernel_release", "");
      o.rerun = c.value("rerun", "");
      o.report = c.value("report", "");
      o.log = c.value("log", "");
      r.cases.push_back(std::move(o));
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("malformed gate report: {}", e.what()));
  }
  return r;
}

std::string to_markdown(const Report& r) {
  std::string m = fmt::format("# aqcheck gate: {}\n\nProfile `{}`, kernels {}, shard(s) {}; {} case(s): {} PASS, {} FAIL, "
                              "{} INFO (mainline scx_qmap's findings, not gating); {:.0f} s.\n",
                              r.passed() ? "PASS" : "FAIL", r.profile, fmt::join(r.kernels, ", "),
                              fmt::join(r.shards, ", "), r.cases.size(), count(r, "PASS"), count(r, "FAIL"),
                              count(r, "INFO"), r.elapsed_s);
  for (const auto& p : r.problems) m += fmt::format("\n**Problem:** {}\n", p);
  // One table per kernel (and the host) of its cases; negative controls have their own.
  std::vector<std::string> groups;
  for (const auto& c : r.cases)
    if (c.section != "negative control" && std::find(groups.begin(), groups.end(), group_of(c)) == groups.end())
      groups.push_back(group_of(c));
  std::sort(groups.begin(), groups.end());
  std::stable_partition(groups.begin(), groups.end(), [](auto& g) { return g == "host"; });
  for (const auto& g : groups) {
    std::string release;
    for (const auto& c : r.cases)
      if (group_of(c) == g && !c.kernel_release.empty()) release = c.kernel_release;
    m += g == "host" ? "\n## Host\n\n" : fmt::format("\n## Kernel {}{}\n\n", g, release.empty() ? "" : " (`" + release + "`)");
    m += "| case | verdict | what | wall s |\n|---|---|---|---:|\n";
    for (const auto& c : r.cases)
      if (group_of(c) == g && c.section != "negative control")
        m += fmt::format("| {} | {} | {} | {:.0f} |\n", c.id, c.verdict, md_cell(c.what), c.wall_s);
  }
  bool any_negative = false;
  for (const auto& c : r.cases) any_negative |= c.section == "negative control";
  if (any_negative) {
    m += "\n## Negative controls\n\nEach build exists to fail a check; it PASSes here when that check still "
         "catches it.\n\n| case | verdict | must FAIL with | caught |\n|---|---|---|---|\n";
    for (const auto& c : r.cases)
      if (c.section == "negative control")
        m += fmt::format("| {} | {} | `{}` | {} |\n", c.id, c.verdict, md_cell(c.expected_reason),
                         c.verdict == "PASS" && !c.reasons.empty() ? md_cell(c.reasons.front()) : "");
  }
  m += performance_markdown(r.performance);
  // The cases of one verdict under a heading, each with its reasons; a FAIL
  // with its log and rerun command too.
  const auto listed = [&](const char* verdict, const char* heading) {
    if (!count(r, verdict)) return;
    m += heading;
    for (const auto& c : r.cases) {
      if (c.verdict != verdict) continue;
      m += fmt::format("\n### {}\n\n", c.id);
      for (const auto& why : c.reasons) m += fmt::format("- {}\n", why);
      if (c.verdict == "FAIL") m += fmt::format("\nLog `{}`. Rerun:\n\n```sh\n{}\n```\n", c.log, c.rerun);
    }
  };
  listed("INFO", "\n## Mainline scx_qmap findings (informational)\n");
  listed("FAIL", "\n## Failures\n");
  return m;
}

std::string to_junit(const Report& r) {
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"aqcheck gate\">\n";
  std::map<std::string, std::vector<const Outcome*>> groups;
  for (const auto& c : r.cases) groups[group_of(c)].push_back(&c);
  for (const auto& [g, cs] : groups) {
    int failures = 0;
    double total = 0;
    for (auto* c : cs) {
      failures += c->verdict == "FAIL";
      total += c->wall_s;
    }
    x += fmt::format("  <testsuite name=\"gate.{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3f}\">\n", xml_escape(g),
                     cs.size(), failures, total);
    for (auto* c : cs) {
      x += fmt::format("    <testcase classname=\"gate.{}\" name=\"{}\" time=\"{:.3f}\">\n", xml_escape(g),
                       xml_escape(c->id), c->wall_s);
      if (c->verdict == "FAIL") {
        std::string body;
        for (const auto& why : c->reasons) body += why + "\n";
        x += fmt::format("      <failure message=\"{}\">{}rerun: {}</failure>\n",
                         xml_escape(c->reasons.empty() ? "FAIL" : c->reasons.front()), xml_escape(body),
                         xml_escape(c->rerun));
      }
      x += "    </testcase>\n";
    }
    x += "  </testsuite>\n";
  }
  for (const auto& p : r.problems)
    x += fmt::format("  <testsuite name=\"gate.merge\" tests=\"1\" failures=\"1\"><testcase name=\"merge\">"
                     "<failure message=\"{}\"/></testcase></testsuite>\n",
                     xml_escape(p));
  return x + "</testsuites>\n";
}

Report merge(const std::vector<Report>& parts) {
  Report out;
  if (parts.empty()) {
    out.problems.push_back("no reports to merge");
    return out;
  }
  out.profile = parts.front().profile;
  std::set<std::string> kernels;
  std::map<std::string, std::set<std::string>> shards_of;  // kernel (or "all") -> "i/n"
  std::map<std::string, std::size_t> seen;                 // case id -> index in out.cases
  for (const auto& p : parts) {
    if (p.profile != out.profile)
      out.problems.push_back(fmt::format("reports of different profiles: {} and {}", out.profile, p.profile));
    out.elapsed_s = std::max(out.elapsed_s, p.elapsed_s);
    for (const auto& k : p.kernels) kernels.insert(k);
    for (const auto& s : p.shards) {
      const std::string key = fmt::format("{}", fmt::join(p.kernels, ","));
      if (!shards_of[key].insert(s).second)
        out.problems.push_back(fmt::format("kernels {}: shard {} is in two reports", key, s));
      out.shards.push_back(key + ":" + s);
    }
    for (const auto& c : p.cases) {
      const auto it = seen.find(c.id);
      if (it == seen.end()) {
        seen[c.id] = out.cases.size();
        out.cases.push_back(c);
      } else if (!c.kernel.empty()) {
        out.problems.push_back(fmt::format("case {} is in two reports", c.id));
      } else if (c.verdict == "FAIL") {
        out.cases[it->second] = c;  // a host case ran in several shards: any FAIL counts
      }
    }
    for (const auto& prob : p.problems) out.problems.push_back(prob);
    for (const auto& [kernel, perf] : p.performance.items()) out.performance[kernel] = perf;
  }
  // Every shard of every kernel set: 1/n .. n/n.
  for (const auto& [key, shards] : shards_of) {
    std::set<int> totals;
    std::set<int> have;
    for (const auto& s : shards) {
      int i = 0, n = 0;
      if (std::sscanf(s.c_str(), "%d/%d", &i, &n) == 2) {
        totals.insert(n);
        have.insert(i);
      }
    }
    if (totals.size() > 1) out.problems.push_back(fmt::format("kernels {}: shards of different totals", key));
    if (totals.size() == 1)
      for (int i = 1; i <= *totals.begin(); i++)
        if (!have.count(i)) out.problems.push_back(fmt::format("kernels {}: shard {}/{} is missing", key, i, *totals.begin()));
  }
  if (out.cases.empty()) out.problems.push_back("the reports hold no case at all");
  out.kernels.assign(kernels.begin(), kernels.end());
  std::sort(out.cases.begin(), out.cases.end(), [](auto& a, auto& b) { return a.id < b.id; });
  out.command = "report merge";
  return out;
}

Comparison compare(const Report& before, const Report& after) {
  Comparison cmp;
  std::map<std::string, const Outcome*> a, b;
  for (const auto& c : before.cases) a[c.id] = &c;
  for (const auto& c : after.cases) b[c.id] = &c;
  std::string rows;
  int same = 0;
  for (const auto& [id, c] : a) {
    const auto it = b.find(id);
    if (it == b.end()) {
      rows += fmt::format("| {} | {} | (gone) | |\n", id, c->verdict);
      cmp.regressed = true;
    } else if (it->second->verdict != c->verdict) {
      rows += fmt::format("| {} | {} | {} | {:.0f} s -> {:.0f} s |\n", id, c->verdict, it->second->verdict, c->wall_s,
                          it->second->wall_s);
      cmp.regressed |= it->second->verdict == "FAIL";
    } else {
      same++;
    }
  }
  for (const auto& [id, c] : b)
    if (!a.count(id)) rows += fmt::format("| {} | (new) | {} | |\n", id, c->verdict);
  cmp.markdown = fmt::format("# aqcheck gate: compare\n\nBefore: {} ({}), after: {} ({}). {} case(s) unchanged.{}\n\n",
                             before.passed() ? "PASS" : "FAIL", before.profile, after.passed() ? "PASS" : "FAIL",
                             after.profile, same, cmp.regressed ? " **Regressed.**" : "");
  if (!rows.empty()) cmp.markdown += "| case | before | after | wall |\n|---|---|---|---|\n" + rows;
  std::string perf_rows;
  for (const auto& [kernel, perf] : after.performance.items()) {
    if (!before.performance.contains(kernel) || !perf.contains("metrics")) continue;
    const auto& old = before.performance[kernel];
    if (!old.contains("metrics")) continue;
    for (const auto& [name, metric] : perf["metrics"].items()) {
      if (!old["metrics"].contains(name)) continue;
      for (const char* config : {"aqmap", "aqmap-no-wake-preempt"}) {
        const auto a = median_ratio(old["metrics"][name], config), b = median_ratio(metric, config);
        if (!a || !b || *a <= 0) continue;
        perf_rows += fmt::format("| {} | {} | {} | {:.3f} | {:.3f} | {:+.1f}% |\n", kernel, config, name, *a, *b,
                                 100 * (*b / *a - 1));
      }
    }
  }
  if (!perf_rows.empty())
    cmp.markdown += "\nPerformance, median ratio to EEVDF:\n\n| kernel | config | metric | before | after | change |\n"
                    "|---|---|---|---:|---:|---:|\n" + perf_rows;
  return cmp;
}

Report read_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read", path));
  const auto j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(fmt::format("{}: not JSON", path));
  try {
    return from_json(j);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("{}: {}", path, e.what()));
  }
}

void write_reports(const Report& r, const std::string& dir) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/gate.json", to_json(r).dump(2) + "\n");
  write_file_atomic(dir + "/gate.md", to_markdown(r));
  write_file_atomic(dir + "/gate.html", report_html(to_json(r)));
  write_file_atomic(dir + "/gate.junit.xml", to_junit(r));
}

}  // namespace aq::gate
