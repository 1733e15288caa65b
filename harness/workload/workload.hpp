// Workload files: a stress-ng job-file body under an aqcheck header of
// comment lines (format: workloads/README.md).
//
//   aq::Workload w = aq::load_workload("workloads/affinity-churn.job");
//   aq::validate_with_stress_ng(w, "/usr/bin/stress-ng");   // before anything runs
//   ... run aq::stress_ng_command(w, "/usr/bin/stress-ng") under the scheduler ...
//   for (auto& why : aq::check_coverage(w, counters)) report(why);
//
// Every error is an aq::WorkloadError whose what() is ONE line,
// "file:line: message" ("file: message" when no single line is at fault).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace aq {

class WorkloadError : public std::runtime_error {
 public:
  // line 0: the file (or directory) as a whole.
  WorkloadError(const std::string& file, int line, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  std::string message_;
};

// "# expect: <counter> >= <min>"
struct Expectation {
  std::string counter;  // a field of struct aq_stats, or "audits"
  std::uint64_t min = 0;
  int line = 0;         // where it was declared
};

// One stress-ng option line of the body: "name [value]".
struct OptionLine {
  int line = 0;
  std::string name;                 // without the leading "--"
  std::optional<std::string> value;
  std::vector<std::string> args() const;  // {"--name"} or {"--name", "value"}
};

struct Workload {
  std::string name;       // file name without ".job"
  std::string path;       // as loaded
  std::string purpose;
  unsigned duration_s = 0;                 // default run time ("# duration:")
  std::vector<Expectation> expectations;   // at least one
  unsigned requires_cpus = 1;              // "# requires: cpus >= N"
  std::vector<std::string> churn;          // "# churn: renice affinity": done by the harness to the tasks
  std::vector<std::string> stress_args;    // stress-ng argv after argv[0], no --timeout
  std::vector<OptionLine> options;         // the body, line by line (stress_args in order)
};

// Counter names an expectation may use: the fields of struct aq_stats
// (bpf/aqmap_arena.h), in declaration order, then "audits".
const std::vector<std::string>& known_counters();

// Parse workload text; `path` is used for the name and in error messages.
Workload parse_workload(std::string_view text, const std::string& path);
// Read and parse a file.
Workload load_workload(const std::string& path);

// Names of the workloads in dir (every <name>.job), sorted.
std::vector<std::string> list_workloads(const std::string& dir);
// NAME -> {<dir>/<NAME>.job}; "all" -> every workload of dir, sorted by name.
// Unknown names throw, listing the available ones.
std::vector<Workload> find_workload(const std::string& name, const std::string& dir);

// The workloads directory of the source tree this library was built from.
std::string default_workloads_dir();

// Ask the real stress-ng (with --dry-run) whether it accepts the options.
// On rejection, throws WorkloadError at the option line at fault (or at the
// file when no single line is), quoting stress-ng's complaint.
void validate_with_stress_ng(const Workload& w, const std::string& stress_ng_path);

// Full command: {stress_ng_path, stress_args..., "--timeout", "<N>s"}; N is
// the workload's duration unless duration_override_s is given.
std::vector<std::string> stress_ng_command(const Workload& w, const std::string& stress_ng_path,
                                           std::optional<unsigned> duration_override_s = {});

// Requirement not met on a machine with `cpus` CPUs, e.g.
// "needs cpus >= 2, have 1 (cpu-hotplug)"; nullopt if runnable.
std::optional<std::string> unmet_requirement(const Workload& w, unsigned cpus);

// One reason per expectation the counters fall short of, e.g.
// "no coverage: nr_deq_removed = 3 < 10 (affinity-churn)"; empty if covered.
std::vector<std::string> check_coverage(const Workload& w,
                                        const std::map<std::string, std::uint64_t>& counters);

}  // namespace aq
