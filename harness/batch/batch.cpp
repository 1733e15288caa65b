#include "batch/batch.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "common/exit_codes.hpp"
#include "common/process.hpp"
#include "common/text.hpp"
#include "report/report.hpp"
#include "run/run.hpp"

namespace fs = std::filesystem;

namespace aq {
namespace {

// Options a plan's run may not carry: the batch names each run's report.
bool is_report_option(const std::string& arg) {
  for (const char* o : {"--json", "--junit", "--markdown"})
    if (arg == o || arg.starts_with(std::string(o) + "=")) return true;
  return false;
}

BatchRun parse_run(const nlohmann::json& j, const std::string& where, std::size_t i) {
  const auto at = fmt::format("{}: runs[{}]", where, i);
  if (!j.is_object()) throw BatchPlanError(at + ": not an object");
  for (const auto& [key, _] : j.items())
    if (key != "name" && key != "run") throw BatchPlanError(fmt::format("{}: unknown key '{}'", at, key));
  if (!j.contains("name") || !j["name"].is_string()) throw BatchPlanError(at + ": 'name' must be a string");
  BatchRun r{j["name"].get<std::string>(), {}};
  static const std::regex name_rule("[A-Za-z0-9._-]+");
  if (!std::regex_match(r.name, name_rule))
    throw BatchPlanError(fmt::format("{}: name '{}' is not [A-Za-z0-9._-]+", at, r.name));
  if (!j.contains("run") || !j["run"].is_array()) throw BatchPlanError(at + ": 'run' must be a list of arguments");
  for (const auto& a : j["run"]) {
    if (!a.is_string()) throw BatchPlanError(fmt::format("{} ({}): every argument must be a string", at, r.name));
    r.run.push_back(a.get<std::string>());
    if (is_report_option(r.run.back()))
      throw BatchPlanError(fmt::format("{} ({}): {} is the batch's to set (the report is <out>/{}.json)", at, r.name,
                                       r.run.back(), r.name));
  }
  return r;
}

std::string rerun_command(const BatchOptions& o, const BatchRun& r) {
  const auto report_dir = o.host_out.empty() ? o.out_dir : o.host_out;
  return "run " + shell_join(batch_run_args(r, report_dir));
}

}  // namespace

std::vector<BatchRun> parse_batch_plan(const std::string& text, const std::string& where) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw BatchPlanError(where + ": not a JSON object");
  for (const auto& [key, _] : j.items())
    if (key != "schema" && key != "runs") throw BatchPlanError(fmt::format("{}: unknown key '{}'", where, key));
  if (j.value("schema", "") != kBatchPlanSchema)
    throw BatchPlanError(fmt::format("{}: schema must be \"{}\"", where, kBatchPlanSchema));
  if (!j.contains("runs") || !j["runs"].is_array() || j["runs"].empty())
    throw BatchPlanError(where + ": 'runs' must be a non-empty list");
  std::vector<BatchRun> runs;
  std::set<std::string> names;
  for (std::size_t i = 0; i < j["runs"].size(); i++) {
    runs.push_back(parse_run(j["runs"][i], where, i));
    if (!names.insert(runs.back().name).second)
      throw BatchPlanError(fmt::format("{}: run name '{}' given twice", where, runs.back().name));
  }
  return runs;
}

std::vector<BatchRun> load_batch_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw BatchPlanError(fmt::format("cannot read batch plan {}", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse_batch_plan(text.str(), path);
}

std::vector<std::string> batch_run_args(const BatchRun& r, const std::string& out_dir) {
  auto args = r.run;
  args.insert(args.end(), {"--json", (fs::path(out_dir) / (r.name + ".json")).string()});
  return args;
}

int batch_command(const BatchOptions& o) {
  std::vector<BatchRun> runs;
  try {
    runs = load_batch_plan(o.plan);
  } catch (const BatchPlanError& e) {
    fmt::print(stderr, "aqcheck: error: bad batch plan: {}\n", e.what());
    return exit_code::bad_plan;
  }
  // One error line for the machine, not one per run.
  if (const int code = check_can_attach("batch"); code != exit_code::pass) return code;
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  const auto self = fs::read_symlink("/proc/self/exe", ec).string();

  nlohmann::json entries = nlohmann::json::array();
  int code = exit_code::pass;
  for (std::size_t i = 0; i < runs.size(); i++) {
    const auto& r = runs[i];
    std::vector<std::string> argv{self, "run"};
    const auto args = batch_run_args(r, o.out_dir);
    argv.insert(argv.end(), args.begin(), args.end());
    if (!o.host_exe.empty()) argv.insert(argv.end(), {"--host-exe", o.host_exe});
    const auto rerun = rerun_command(o, r);
    argv.insert(argv.end(), {"--host-command", rerun});
    fmt::print("aqcheck: batch: run {}/{} '{}': aqcheck {}\n", i + 1, runs.size(), r.name, rerun);
    std::fflush(stdout);
    ProcessOptions po;
    po.inherit_output = true;  // each run's progress goes where the batch's does (the VM's console)
    const auto res = run_process(argv, po);
    fmt::print("aqcheck: batch: run '{}' exited with {} after {:.1f} s\n", r.name, res.exit, res.wall_s);
    entries.push_back({{"name", r.name},
                       {"exit", res.exit},
                       {"report", r.name + ".json"},
                       {"wall_s", res.wall_s},
                       {"command", rerun}});
    if (res.exit == exit_code::fail && code == exit_code::pass) code = exit_code::fail;
    if (res.exit != exit_code::pass && res.exit != exit_code::fail &&
        (code == exit_code::pass || code == exit_code::fail))
      code = res.exit < 0 ? exit_code::internal : res.exit;
  }
  const nlohmann::json report{{"schema", kBatchReportSchema}, {"plan", o.plan}, {"exit", code}, {"runs", entries}};
  try {
    write_file_atomic((fs::path(o.out_dir) / "batch.json").string(), report.dump(2) + "\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: cannot write the batch report: {}\n", e.what());
    return exit_code::internal;
  }
  return code;
}

}  // namespace aq
