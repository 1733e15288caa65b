#include "report/report.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "common/text.hpp"
#include "fuzz/shrink.hpp"
#include "report/html.hpp"
#include "report/ktap.hpp"
#include "sched/qmap_upstream.hpp"
#include "sched/scheduler.hpp"

namespace aq {
namespace {

nlohmann::json retries_json(const CaseResult& c) {
  auto out = nlohmann::json::array();
  for (const auto& t : c.host_stall_retries)
    out.push_back({{"failures", t.failures}, {"host_stalls", t.host_stalls}, {"longest_stall_s", t.longest_stall_s},
                   {"wall_s", t.wall_s}, {"settle_s", t.settle_s}});
  return out;
}

std::size_t retries_of(const RunResult& res) {
  std::size_t n = 0;
  for (const auto& c : res.cases) n += c.host_stall_retries.size();
  return n;
}

}  // namespace

std::string case_verdict(const CaseResult& c) {
  if (!c.failures.empty()) return "FAIL";
  return c.skipped.empty() ? "PASS" : "SKIPPED";
}

std::string case_verdict_text(const CaseResult& c) {
  const auto n = c.host_stall_retries.size();
  if (!n) return case_verdict(c);
  return fmt::format("{} after {} host-stall retr{}", case_verdict(c), n, n == 1 ? "y" : "ies");
}

std::string rerun_executable(const RunConfig& cfg) {
  if (!cfg.host_exe.empty()) return cfg.host_exe;
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "aqcheck";
}

std::string reproduction_command(const RunConfig& cfg, const std::string& kernel) {
  // In a VM, command_line names the guest's /out paths; the host's own
  // command (set by `aqcheck vm`) is what reruns it from the host.
  std::string cmd = cfg.host_command.empty() ? cfg.command_line : cfg.host_command;
  if (cmd.find("--seed") == std::string::npos) cmd += fmt::format(" --seed {}", cfg.seed);
  return fmt::format("{} vm --kernel {} -- {}   # kernel {}", rerun_executable(cfg), rerun_kernel(kernel), cmd,
                     kernel);
}

nlohmann::json to_json(const RunConfig& cfg, const RunResult& res, const std::string& repro) {
  using nlohmann::json;
  json cases = json::array();
  json all_failures = json::array();
  for (const auto& c : res.cases) {
    for (const auto& f : c.failures) all_failures.push_back(c.name + ": " + f);
    cases.push_back({
        {"name", c.name},
        {"purpose", c.purpose},
        {"verdict", case_verdict(c)},
        {"skipped", c.skipped},
        {"duration_s", c.duration_s},
        {"wall_s", c.wall_s},
        {"attach_uptime_s", c.attach_uptime_s},
        {"first_failure_s", c.first_failure_s},
        {"stress", {{"argv", c.stress_argv}, {"exit", c.stress_exit}, {"bogo_ops", c.bogo_ops},
                    {"baseline_bogo_ops", c.baseline_bogo_ops}}},
        {"exit", {{"kind", c.exit_kind}, {"kind_name", exit_kind_name(c.exit_kind)}, {"reason", c.exit_reason},
                  {"msg", c.exit_msg}}},
        {"counters", c.counters},
        {"audit", {{"audits", c.audits}, {"max_ms", c.audit_max_ms}, {"entries_max", c.audit_entries_max},
                   {"stale_entries", c.stale_entries}, {"fifo_len_max", c.fifo_len_max},
                   {"fifo_head_wait_max_ms", c.fifo_head_wait_max_ms}}},
        {"waits", {{"max_fifo_wait_ms", c.max_fifo_wait_ms}, {"max_fifo_wait_fifo", c.max_fifo_wait_fifo},
                   {"max_task_wait_ms", c.max_task_wait_ms}, {"wait_audits", c.wait_audits},
                   {"stuck_tasks", c.stuck_tasks}}},
        {"host", {{"stalls", c.host_stalls}, {"longest_stall_s", c.host_stall_max_s}}},
        {"host_stall_retries", retries_json(c)},
        {"slab", {{"free", c.slab_free}, {"total", c.slab_total}}},
        {"series", series_json(c.series)},
        {"failures", c.failures},
        {"failure_classes", classes_of(c.failures)},
        {"notes", c.notes},
    });
  }
  const auto& o = cfg.sched;
  return {
      {"schema", "aqcheck-report/1"},
      {"verdict", res.passed() ? "PASS" : "FAIL"},
      {"host_stall_retries", retries_of(res)},
      {"kernel", res.kernel},
      {"seed", cfg.seed},
      {"command", cfg.command_line},
      {"reproduce", repro},
      {"sched_ext_ops", res.sched_ext_ops},
      {"scheduler",
       {{"name", o.scheduler == kQmapUpstream ? "scx_qmap (mainline)" : "scx_aqmap"},
        {"source", o.scheduler == kQmapUpstream ? qmap_upstream_source() : "this project"},
        {"variant", o.variant},
        {"options",
         {{"slice_us", o.slice_us}, {"dsp_batch", o.dsp_batch}, {"highpri_boosting", o.highpri_boosting},
          {"reenq_shared", o.reenq_shared},
          {"max_tasks", o.max_tasks}, {"error_after_enqueues", o.error_after_enqueues},
          {"fail_lock_every", o.fail_lock_every}, {"starve_ms", o.starve_ms},
          {"stuck_after_ms", o.stuck_after_ms}}}}},
      {"audit_interval_ms", cfg.audit_interval_ms},
      {"cases", cases},
      {"failures", all_failures},
  };
}

std::string to_junit(const RunResult& res, const std::string& repro) {
  int failures = 0, skipped = 0;
  double total = 0;
  for (const auto& c : res.cases) {
    failures += !c.failures.empty();
    skipped += c.failures.empty() && !c.skipped.empty();
    total += c.wall_s;
  }
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += fmt::format("<testsuite name=\"aqcheck\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                   res.cases.size(), failures, skipped, total);
  x += fmt::format("  <properties><property name=\"kernel\" value=\"{}\"/>"
                   "<property name=\"scheduler\" value=\"{}\"/>"
                   "<property name=\"reproduce\" value=\"{}\"/></properties>\n",
                   xml_escape(res.kernel),
                   xml_escape(res.sched_ext_ops == "qmap" ? "scx_qmap (mainline) from " + qmap_upstream_source()
                                                          : "scx_aqmap"),
                   xml_escape(repro));
  for (const auto& c : res.cases) {
    x += fmt::format("  <testcase classname=\"aqcheck.{}\" name=\"{}\" time=\"{:.3f}\">\n",
                     xml_escape(res.kernel), xml_escape(c.name), c.wall_s);
    if (!c.failures.empty()) {
      std::string body;
      for (const auto& f : c.failures) body += f + "\n";
      x += fmt::format("    <failure message=\"{}\">{}reproduce: {}</failure>\n", xml_escape(c.failures.front()),
                       xml_escape(body), xml_escape(repro));
    } else if (!c.skipped.empty()) {
      x += fmt::format("    <skipped message=\"{}\"/>\n", xml_escape(c.skipped));
    }
    if (!c.host_stall_retries.empty()) {
      std::string body;
      for (std::size_t i = 0; i < c.host_stall_retries.size(); i++)
        for (const auto& f : c.host_stall_retries[i].failures)
          body += fmt::format("host-stall retry: attempt {} failed: {}\n", i + 1, f);
      x += fmt::format("    <system-out>{}</system-out>\n", xml_escape(body));
    }
    x += "  </testcase>\n";
  }
  x += "</testsuite>\n";
  return x;
}

std::string to_markdown(const RunResult& res, const std::string& repro) {
  const auto retries = retries_of(res);
  std::string m = fmt::format("# aqcheck: {}{}\n\nKernel `{}`. Reproduce: `{}`\n\n", res.passed() ? "PASS" : "FAIL",
                              retries ? fmt::format(" ({} host-stall retr{})", retries, retries == 1 ? "y" : "ies") : "",
                              res.kernel, repro);
  // Mainline scx_qmap counts neither removals nor sched changes apart: its
  // enqueues and dequeues instead.
  const bool mainline = res.sched_ext_ops == "qmap";
  if (mainline) m += fmt::format("Scheduler: mainline scx_qmap from {}.\n\n", qmap_upstream_source());
  m += fmt::format("| workload | verdict | {} | audits | max audit ms | stale | max FIFO wait ms | "
                   "max task wait ms | wall s |\n",
                   mainline ? "enqueues | dequeues" : "removals | sched changes");
  m += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& c : res.cases) {
    auto get = [&](const char* k) {
      auto it = c.counters.find(k);
      return it == c.counters.end() ? 0ULL : static_cast<unsigned long long>(it->second);
    };
    m += fmt::format("| {} | {} | {} | {} | {} | {:.2f} | {} | {:.0f} | {} | {:.1f} |\n", c.name, case_verdict_text(c),
                     get(mainline ? "nr_enqueued" : "nr_deq_removed"),
                     get(mainline ? "nr_dequeued" : "nr_deq_sched_change"), c.audits, c.audit_max_ms, c.stale_entries,
                     c.max_fifo_wait_ms, c.max_task_wait_ms, c.wall_s);
  }
  for (const auto& c : res.cases) {
    if (!c.skipped.empty()) m += fmt::format("\n- **{}** skipped: {}", c.name, c.skipped);
    for (const auto& f : c.failures) m += fmt::format("\n- **{}**: {}", c.name, f);
    for (std::size_t i = 0; i < c.host_stall_retries.size(); i++)
      for (const auto& f : c.host_stall_retries[i].failures)
        m += fmt::format("\n- **{}** (attempt {}, run again: a host stall): {}", c.name, i + 1, f);
  }
  return m + "\n";
}

namespace {

// The inside of a number array, "\n  1,\n  2\n" -> "1, 2".
std::string one_line(std::string_view inside) {
  std::string out;
  for (const char c : inside) {
    if (c == ' ' || c == '\n') continue;
    out += c;
    if (c == ',') out += ' ';
  }
  return out;
}

}  // namespace

std::string compact_number_arrays(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (in_string) {  // a '[' in a string is text
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    in_string = c == '"';
    if (c == '[') {
      const auto close = text.find_first_not_of("0123456789.-+eE, \n", i + 1);
      if (close != std::string_view::npos && text[close] == ']' && close > i + 1) {
        out += "[" + one_line(text.substr(i + 1, close - i - 1)) + "]";
        i = close;
        continue;
      }
    }
    out += c;
  }
  return out;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw std::runtime_error(fmt::format("{}: {}", tmp, std::strerror(errno)));
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = (std::fflush(f) == 0) && ok;
  ok = (::fsync(::fileno(f)) == 0) && ok;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    throw std::runtime_error(fmt::format("{}: {}", path, std::strerror(e)));
  }
}

void write_reports(const RunConfig& cfg, const RunResult& res, const std::string& repro) {
  const auto j = to_json(cfg, res, repro);
  if (!cfg.json.empty()) write_file_atomic(cfg.json, compact_number_arrays(j.dump(2)) + "\n");
  if (!cfg.junit.empty()) write_file_atomic(cfg.junit, to_junit(res, repro));
  if (!cfg.ktap.empty()) write_file_atomic(cfg.ktap, ktap_document(ktap_tests_of(j)));
  if (!cfg.markdown.empty()) {
    write_file_atomic(cfg.markdown, to_markdown(res, repro));
    write_file_atomic(html_path_beside(cfg.markdown), report_html(j));  // its charts (report/html.hpp)
  }
}

void print_verdict(const RunResult& res, const RunConfig& cfg, const std::string& repro) {
  std::size_t nfail = 0;
  for (const auto& c : res.cases) nfail += c.failures.size();
  fmt::print("\n");
  for (const auto& c : res.cases) {
    if (!c.skipped.empty()) fmt::print("SKIPPED {}: {}\n", c.name, c.skipped);
    for (const auto& n : c.notes) fmt::print("  note {}: {}\n", c.name, n);
    for (const auto& f : c.failures) fmt::print("  - {}: {}\n", c.name, f);
    for (std::size_t i = 0; i < c.host_stall_retries.size(); i++)
      for (const auto& f : c.host_stall_retries[i].failures)
        fmt::print("  - {} (attempt {}, run again: a host stall): {}\n", c.name, i + 1, f);
  }
  const auto retries = retries_of(res);
  const std::string retry_note =
      retries ? fmt::format(", {} host-stall retr{}: see the report", retries, retries == 1 ? "y" : "ies") : "";
  if (cfg.sched.scheduler == kQmapUpstream) fmt::print("aqcheck: scheduler: mainline scx_qmap from {}\n", qmap_upstream_source());
  if (res.passed())
    fmt::print("aqcheck verdict: PASS ({} case(s), kernel {}, seed {}{})\n", res.cases.size(), res.kernel, cfg.seed,
               retry_note);
  else
    fmt::print("aqcheck verdict: FAIL ({} reason(s), kernel {}, seed {}{})\n", nfail, res.kernel, cfg.seed,
               retry_note);
  if (!res.passed()) fmt::print("reproduce: {}\n", repro);
  std::fflush(stdout);
}

}  // namespace aq
