// Workload file parser and checks (format: workloads/README.md).
#include "workload/workload.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace aq {

namespace {

namespace fs = std::filesystem;

constexpr unsigned max_duration_s = 3600;

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

// "key: value" at the start of a comment's text -> key; otherwise nullopt.
std::optional<std::string> header_key(std::string_view text, std::string_view* value) {
  if (text.empty() || !is_ident_start(text[0])) return std::nullopt;
  std::size_t i = 1;
  while (i < text.size() && is_ident_char(text[i])) ++i;
  std::size_t k = i;
  while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
  if (k >= text.size() || text[k] != ':') return std::nullopt;
  // "http://..." style text is prose, not a key.
  if (k + 1 < text.size() && text[k + 1] == '/') return std::nullopt;
  *value = trim(text.substr(k + 1));
  return std::string(text.substr(0, i));
}

bool parse_u64(std::string_view s, std::uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool valid_option_name(std::string_view s) {
  if (s.empty()) return false;
  if (!(std::islower(static_cast<unsigned char>(s[0])) || std::isdigit(static_cast<unsigned char>(s[0]))))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '-';
  });
}

bool valid_workload_name(std::string_view s) { return valid_option_name(s); }

const std::vector<std::string> header_keys = {"purpose", "duration", "expect", "requires", "churn"};
// What the harness itself can do to the workload's tasks (harness/run/churn.hpp).
const std::vector<std::string> churn_kinds = {"renice", "affinity"};

// Options the harness owns or that change how long stress-ng runs.
const std::map<std::string, std::string, std::less<>> forbidden_options = {
    {"timeout", "the harness sets the run time from '# duration:'"},
    {"dry-run", "the harness decides whether stressors run"},
    {"job", "workload files do not nest"},
    {"sequential", "stressors run together for the duration ('run parallel')"},
    {"seq", "stressors run together for the duration ('run parallel')"},
    {"all", "stressors run together for the duration ('run parallel')"},
    {"permute", "stressors run together for the duration ('run parallel')"},
    {"yaml", "the harness collects stress-ng's YAML report itself"},
};

// ---- running stress-ng ------------------------------------------------------

struct ProcResult {
  int status = 0;  // waitpid status
  std::string output;
};

ProcResult run_capture(const std::vector<std::string>& argv, std::chrono::seconds limit) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  ProcResult r;
  auto deadline = std::chrono::steady_clock::now() + limit;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = n == 0;
      break;
    }
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (r.output.size() < (1u << 20)) r.output.append(buf, static_cast<std::size_t>(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw std::runtime_error(argv[0] + " --dry-run did not finish within " +
                                          std::to_string(limit.count()) + " s");
  return r;
}

bool succeeded(const ProcResult& r) { return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0; }

// stress-ng's complaint, reduced to one short line.
std::string complaint(const ProcResult& r) {
  std::istringstream in(r.output);
  std::string line, fallback;
  while (std::getline(in, line)) {
    std::string_view s = trim(line);
    if (s.empty() || s.starts_with("Try '")) continue;
    if (s.starts_with("stress-ng: ")) s.remove_prefix(11);
    if (s.starts_with("info:") || s.starts_with("debug:")) continue;
    for (std::string_view pre : {"error:", "fail:", "warn:"}) {
      if (s.starts_with(pre)) {
        s = trim(s.substr(pre.size()));
        if (s.starts_with("[")) {  // "[pid] "
          auto close_br = s.find(']');
          if (close_br != std::string_view::npos) s = trim(s.substr(close_br + 1));
        }
      }
    }
    std::string out(s);
    for (char& c : out)
      if (std::iscntrl(static_cast<unsigned char>(c))) c = ' ';
    if (out.size() > 160) out = out.substr(0, 157) + "...";
    return out;
  }
  if (WIFEXITED(r.status)) return "exit status " + std::to_string(WEXITSTATUS(r.status));
  if (WIFSIGNALED(r.status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(r.status));
  return "failed";
}

std::vector<std::string> dry_run_argv(const std::string& stress_ng) {
  return {stress_ng, "--dry-run", "--timeout", "1"};
}

}  // namespace

// ---- WorkloadError / OptionLine -------------------------------------------

WorkloadError::WorkloadError(const std::string& file, int line, const std::string& message)
    : std::runtime_error(line > 0 ? file + ":" + std::to_string(line) + ": " + message
                                  : file + ": " + message),
      file_(file),
      line_(line),
      message_(message) {}

std::vector<std::string> OptionLine::args() const {
  std::vector<std::string> a{"--" + name};
  if (value) a.push_back(*value);
  return a;
}

const std::vector<std::string>& known_counters() {
  static const std::vector<std::string> names = {
  // The fields of struct aq_stats (bpf/aqmap_arena.h), generated at configure time.
#include "aq_stats_fields.inc"
      "audits",  // audits completed (struct aq_audit.seq)
  };
  return names;
}

// ---- parsing ----------------------------------------------------------------

Workload parse_workload(std::string_view text, const std::string& path) {
  Workload w;
  w.path = path;
  w.name = fs::path(path).stem().string();

  auto fail = [&](int line, const std::string& msg) -> WorkloadError { return WorkloadError(path, line, msg); };

  int purpose_line = 0, duration_line = 0, requires_line = 0;
  bool in_header = true;
  bool continues_purpose = false;
  int lineno = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    std::string_view line = trim(raw);
    if (line.empty()) {
      continues_purpose = false;
      continue;
    }

    if (line.front() == '#') {
      std::string_view value;
      auto key = header_key(trim(line.substr(1)), &value);
      if (!key) {
        // "#   more text" right under the purpose (indented) continues it.
        std::string_view rest = line.substr(1);
        if (continues_purpose && rest.starts_with("  ") && !trim(rest).empty()) {
          w.purpose += ' ';
          w.purpose += trim(rest);
        } else {
          continues_purpose = false;
        }
        continue;  // prose comment
      }
      continues_purpose = false;
      bool known = std::find(header_keys.begin(), header_keys.end(), *key) != header_keys.end();
      if (!in_header) {
        if (known)
          throw fail(lineno, "header key '" + *key +
                                 "' after the first option line; move it to the header at the top");
        continue;  // after the header, "word:" comments are prose
      }
      if (!known)
        throw fail(lineno, "unknown header key '" + *key + "' (known: " + join(header_keys, ", ") + ")");
      if (value.empty()) throw fail(lineno, "missing value for '" + *key + "'");

      if (*key == "purpose") {
        if (purpose_line) throw fail(lineno, "duplicate 'purpose' (first on line " + std::to_string(purpose_line) + ")");
        purpose_line = lineno;
        w.purpose = std::string(value);
        continues_purpose = true;
      } else if (*key == "duration") {
        if (duration_line)
          throw fail(lineno, "duplicate 'duration' (first on line " + std::to_string(duration_line) + ")");
        std::uint64_t d = 0;
        if (!parse_u64(value, &d) || d < 1 || d > max_duration_s)
          throw fail(lineno, "bad duration '" + std::string(value) + "': expected whole seconds, 1.." +
                                 std::to_string(max_duration_s));
        duration_line = lineno;
        w.duration_s = static_cast<unsigned>(d);
      } else if (*key == "expect") {
        auto ge = value.find(">=");
        std::string_view counter = ge == std::string_view::npos ? std::string_view{} : trim(value.substr(0, ge));
        std::string_view num = ge == std::string_view::npos ? std::string_view{} : trim(value.substr(ge + 2));
        std::uint64_t min = 0;
        if (counter.empty() || split_ws(counter).size() != 1 || !parse_u64(num, &min))
          throw fail(lineno, "bad expect '" + std::string(value) + "': expected '<counter> >= <N>'");
        const auto& known_c = known_counters();
        if (std::find(known_c.begin(), known_c.end(), counter) == known_c.end())
          throw fail(lineno, "unknown counter '" + std::string(counter) + "' in expect (known: " +
                                 join(known_c, ", ") + ")");
        if (min == 0)
          throw fail(lineno, "vacuous expect '" + std::string(value) + "': the minimum must be at least 1");
        for (const auto& e : w.expectations)
          if (e.counter == counter)
            throw fail(lineno, "duplicate expect for '" + e.counter + "' (first on line " +
                                   std::to_string(e.line) + ")");
        w.expectations.push_back({std::string(counter), min, lineno});
      } else if (*key == "churn") {
        for (auto kind : split_ws(value)) {
          if (std::find(churn_kinds.begin(), churn_kinds.end(), kind) == churn_kinds.end())
            throw fail(lineno, "unknown churn '" + std::string(kind) + "' (known: " + join(churn_kinds, ", ") + ")");
          if (std::find(w.churn.begin(), w.churn.end(), kind) == w.churn.end()) w.churn.emplace_back(kind);
        }
      } else {  // requires
        if (requires_line)
          throw fail(lineno, "duplicate 'requires' (first on line " + std::to_string(requires_line) + ")");
        auto ge = value.find(">=");
        std::uint64_t n = 0;
        if (ge == std::string_view::npos || trim(value.substr(0, ge)) != "cpus" ||
            !parse_u64(trim(value.substr(ge + 2)), &n) || n < 1 || n > 4096)
          throw fail(lineno, "bad requires '" + std::string(value) + "': expected 'cpus >= <N>'");
        requires_line = lineno;
        w.requires_cpus = static_cast<unsigned>(n);
      }
      continue;
    }

    // Option line: "name [value]  [# comment]", as in a stress-ng job file.
    in_header = false;
    continues_purpose = false;
    std::string_view body = line;
    if (auto hash = body.find('#'); hash != std::string_view::npos) body = trim(body.substr(0, hash));
    auto tok = split_ws(body);
    const std::string& name = tok[0];
    if (name.starts_with("-")) {
      std::string bare = name.substr(std::min(name.find_first_not_of('-'), name.size()));
      throw fail(lineno, "bad option syntax '" + name + "': write options without leading dashes ('" + bare +
                             " ...')");
    }
    if (name.find('=') != std::string::npos)
      throw fail(lineno, "bad option syntax '" + name + "': write 'name value', not 'name=value'");
    if (!valid_option_name(name))
      throw fail(lineno, "bad option syntax '" + name + "': option names are lower-case letters, digits and '-'");
    if (tok.size() > 2)
      throw fail(lineno, "too many values for '" + name + "': expected '" + name + " [value]'");
    if (name == "run") {
      if (tok.size() < 2) throw fail(lineno, "missing value for 'run' (expected 'run parallel')");
      if (tok[1] != "parallel")
        throw fail(lineno, "'run " + tok[1] + "' is not supported: only 'run parallel' (stressors run together for the duration)");
      continue;
    }
    if (auto it = forbidden_options.find(name); it != forbidden_options.end())
      throw fail(lineno, "'" + name + "' is not allowed: " + it->second);
    // stress-ng (getopt_long) accepts unambiguous abbreviations: "timeo" is --timeout.
    for (const auto& [opt_name, why] : forbidden_options)
      if (opt_name.starts_with(name))
        throw fail(lineno, "'" + name + "' abbreviates '" + opt_name + "', which is not allowed: " + why);
    OptionLine opt{lineno, name, tok.size() > 1 ? std::optional<std::string>(tok[1]) : std::nullopt};
    for (auto& a : opt.args()) w.stress_args.push_back(a);
    w.options.push_back(std::move(opt));
  }

  if (!purpose_line) throw fail(1, "missing header '# purpose: <text>'");
  if (!duration_line) throw fail(1, "missing header '# duration: <seconds>'");
  if (w.expectations.empty()) throw fail(1, "missing header '# expect: <counter> >= <N>' (at least one)");
  if (w.options.empty()) throw fail(1, "no stress-ng options: the body needs at least one stressor line");
  return w;
}

Workload load_workload(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw WorkloadError(path, 0, "is a directory, not a workload file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw WorkloadError(path, 0, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_workload(ss.str(), path);
}

std::vector<std::string> list_workloads(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) throw WorkloadError(dir, 0, "cannot list workloads: " + ec.message());
  for (const auto& e : it) {
    if (e.path().extension() == ".job" && e.is_regular_file(ec)) names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<Workload> find_workload(const std::string& name, const std::string& dir) {
  auto names = list_workloads(dir);
  std::vector<Workload> out;
  if (name == "all") {
    if (names.empty()) throw WorkloadError(dir, 0, "no workloads (*.job) in this directory");
    for (const auto& n : names) out.push_back(load_workload((fs::path(dir) / (n + ".job")).string()));
    return out;
  }
  if (!valid_workload_name(name) || std::find(names.begin(), names.end(), name) == names.end()) {
    std::string shown = name;
    for (char& c : shown)
      if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
    throw WorkloadError(dir, 0, "unknown workload '" + shown + "' (available: " + join(names, ", ") +
                                    (names.empty() ? "all)" : ", all)"));
  }
  out.push_back(load_workload((fs::path(dir) / (name + ".job")).string()));
  return out;
}

std::string default_workloads_dir() {
#ifdef AQ_WORKLOADS_DIR
  return AQ_WORKLOADS_DIR;
#else
  return "workloads";
#endif
}

// ---- stress-ng validation ---------------------------------------------------

void validate_with_stress_ng(const Workload& w, const std::string& stress_ng_path) {
  if (access(stress_ng_path.c_str(), X_OK) != 0)
    throw std::runtime_error("cannot run stress-ng at '" + stress_ng_path + "': " + std::strerror(errno));
  const auto limit = std::chrono::seconds(30);

  auto all = dry_run_argv(stress_ng_path);
  all.insert(all.end(), w.stress_args.begin(), w.stress_args.end());
  ProcResult whole = run_capture(all, limit);
  if (succeeded(whole)) return;

  // Find the line at fault: each option alone, next to a harmless stressor
  // (so a lone non-stressor option still has something to run).
  for (const auto& opt : w.options) {
    auto argv = dry_run_argv(stress_ng_path);
    argv.push_back("--null");
    argv.push_back("1");
    for (auto& a : opt.args()) argv.push_back(a);
    ProcResult r = run_capture(argv, limit);
    if (succeeded(r)) continue;
    std::string why = complaint(r);
    std::string text = opt.name + (opt.value ? " " + *opt.value : "");
    if (why.find("requires an argument") != std::string::npos)
      throw WorkloadError(w.path, opt.line, "missing value for '" + opt.name + "' (stress-ng: " + why + ")");
    if (why.find("unrecognized option") != std::string::npos)
      throw WorkloadError(w.path, opt.line, "unknown stress-ng option '" + opt.name + "' (stress-ng: " + why + ")");
    throw WorkloadError(w.path, opt.line, "stress-ng rejects '" + text + "': " + why);
  }
  throw WorkloadError(w.path, 0, "stress-ng rejects the options together: " + complaint(whole));
}

std::vector<std::string> stress_ng_command(const Workload& w, const std::string& stress_ng_path,
                                           std::optional<unsigned> duration_override_s) {
  std::vector<std::string> argv{stress_ng_path};
  argv.insert(argv.end(), w.stress_args.begin(), w.stress_args.end());
  argv.push_back("--timeout");
  argv.push_back(std::to_string(duration_override_s.value_or(w.duration_s)) + "s");
  return argv;
}

std::optional<std::string> unmet_requirement(const Workload& w, unsigned cpus) {
  if (cpus >= w.requires_cpus) return std::nullopt;
  return "needs cpus >= " + std::to_string(w.requires_cpus) + ", have " + std::to_string(cpus) + " (" +
         w.name + ")";
}

std::vector<std::string> check_coverage(const Workload& w,
                                        const std::map<std::string, std::uint64_t>& counters) {
  std::vector<std::string> why;
  for (const auto& e : w.expectations) {
    auto it = counters.find(e.counter);
    if (it == counters.end())
      why.push_back("no coverage: " + e.counter + " not reported (" + w.name + ")");
    else if (it->second < e.min)
      why.push_back("no coverage: " + e.counter + " = " + std::to_string(it->second) + " < " +
                    std::to_string(e.min) + " (" + w.name + ")");
  }
  return why;
}

}  // namespace aq
