// Unit tests of the workload parser (ctest: workload_parser).
#include "workload/workload.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::string workloads_dir = AQ_WORKLOADS_DIR;
const std::string stress_ng = AQ_STRESS_NG;

// Small files written into a private temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "aq-workload-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    auto p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

const char* good_header =
    "# purpose: a test workload\n"   // 1
    "# duration: 10\n"               // 2
    "# expect: nr_enqueued >= 5\n";  // 3

// The single-line error a load of `text` gives, or "" if it loads.
std::string load_error(const TempDir& dir, const std::string& text, const std::string& name = "t.job") {
  auto p = dir.write(name, text);
  try {
    aq::load_workload(p);
  } catch (const aq::WorkloadError& e) {
    return e.what();
  }
  return "";
}

void expect_one_line_at(const std::string& what, const std::string& file, int line,
                        const std::string& needle) {
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  std::string prefix = file + ":" + std::to_string(line) + ": ";
  EXPECT_EQ(what.rfind(prefix, 0), 0u) << "expected prefix '" << prefix << "' in: " << what;
  EXPECT_NE(what.find(needle), std::string::npos) << "expected '" << needle << "' in: " << what;
}

// Field names of struct aq_stats, read from the arena header.
std::vector<std::string> arena_stat_fields() {
  std::ifstream in(AQ_ARENA_HEADER);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto start = text.find("struct aq_stats {");
  auto end = text.find("};", start);
  if (start == std::string::npos || end == std::string::npos) return {};
  std::string body = text.substr(start, end - start);
  std::vector<std::string> names;
  std::regex field(R"(\bu64\s+(\w+)\s*;)");
  for (std::sregex_iterator it(body.begin(), body.end(), field), stop; it != stop; ++it)
    names.push_back((*it)[1]);
  return names;
}

}  // namespace

TEST(Counters, MatchStructAqStats) {
  auto fields = arena_stat_fields();
  ASSERT_FALSE(fields.empty()) << "could not read struct aq_stats from " << AQ_ARENA_HEADER;
  fields.push_back("audits");
  EXPECT_EQ(aq::known_counters(), fields);
}

TEST(Shipped, AtLeastTenWorkloadsAllParse) {
  auto names = aq::list_workloads(workloads_dir);
  EXPECT_GE(names.size(), 10u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& n : names) {
    SCOPED_TRACE(n);
    aq::Workload w;
    ASSERT_NO_THROW(w = aq::load_workload(workloads_dir + "/" + n + ".job"));
    EXPECT_EQ(w.name, n);
    EXPECT_FALSE(w.purpose.empty());
    EXPECT_GE(w.duration_s, 5u);
    EXPECT_LE(w.duration_s, 30u);  // qemu TCG: keep runs short
    EXPECT_FALSE(w.expectations.empty());
    EXPECT_FALSE(w.stress_args.empty());
    EXPECT_EQ(std::count(w.stress_args.begin(), w.stress_args.end(), "--timeout"), 0);
    EXPECT_GE(w.requires_cpus, 1u);
  }
}

TEST(Shipped, ExpectedWorkloadsPresent) {
  auto names = aq::list_workloads(workloads_dir);
  for (const char* n : {"cpu-baseline", "affinity-churn", "nice-churn", "fork-exit-churn", "stop-cont",
                        "yield", "sleep-wake", "migrate-self", "sched-policy", "cpu-hotplug", "mix-all"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  auto hot = aq::find_workload("cpu-hotplug", workloads_dir).at(0);
  EXPECT_EQ(hot.requires_cpus, 2u);
  bool offline = std::any_of(hot.expectations.begin(), hot.expectations.end(),
                             [](const aq::Expectation& e) { return e.counter == "nr_cpu_offline"; });
  EXPECT_TRUE(offline);
}

TEST(Shipped, DocumentedInReadme) {
  std::ifstream in(workloads_dir + "/README.md");
  ASSERT_TRUE(in) << "workloads/README.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  for (const auto& n : aq::list_workloads(workloads_dir))
    EXPECT_NE(ss.str().find("| `" + n + "` |"), std::string::npos) << n << " not in the README's table";
}

TEST(Shipped, AcceptedByStressNg) {
  if (stress_ng.empty()) GTEST_SKIP() << "stress-ng not installed";
  for (const auto& w : aq::find_workload("all", workloads_dir)) {
    SCOPED_TRACE(w.name);
    EXPECT_NO_THROW(aq::validate_with_stress_ng(w, stress_ng));
  }
}

TEST(Find, AllIsSortedAndComplete) {
  auto all = aq::find_workload("all", workloads_dir);
  auto names = aq::list_workloads(workloads_dir);
  ASSERT_EQ(all.size(), names.size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].name, names[i]);
}

TEST(Find, ByName) {
  auto ws = aq::find_workload("yield", workloads_dir);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].name, "yield");
  EXPECT_EQ(ws[0].path, workloads_dir + "/yield.job");
}

TEST(Find, UnknownNameListsAvailable) {
  TempDir d;
  d.write("beta.job", std::string(good_header) + "cpu 1\n");
  d.write("alpha.job", std::string(good_header) + "cpu 1\n");
  d.write("notes.txt", "not a workload\n");
  for (std::string bad : {"gamma", "../alpha", "ALPHA", ""}) {
    SCOPED_TRACE(bad);
    try {
      aq::find_workload(bad, d.str());
      ADD_FAILURE() << "no error";
    } catch (const aq::WorkloadError& e) {
      std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos);
      EXPECT_EQ(what, d.str() + ": unknown workload '" + bad + "' (available: alpha, beta, all)");
    }
  }
  EXPECT_EQ(aq::find_workload("all", d.str()).size(), 2u);
}

TEST(Parse, OptionLinesBecomeArgv) {
  auto w = aq::parse_workload(
      "# purpose: one\n"
      "#   two\n"
      "# free prose, ignored\n"
      "# duration: 12\n"
      "# expect: nr_deq_removed >= 10\n"
      "# expect: audits >= 1\n"
      "# requires: cpus >= 2\n"
      "\n"
      "run parallel\n"
      "cpu 4   # trailing comment\n"
      "\taffinity-rand\n"
      "# note: after the header this is prose\n"
      "cpu-method int64\r\n",
      "/x/my-load.job");
  EXPECT_EQ(w.name, "my-load");
  EXPECT_EQ(w.purpose, "one two");
  EXPECT_EQ(w.duration_s, 12u);
  EXPECT_EQ(w.requires_cpus, 2u);
  ASSERT_EQ(w.expectations.size(), 2u);
  EXPECT_EQ(w.expectations[0].counter, "nr_deq_removed");
  EXPECT_EQ(w.expectations[0].min, 10u);
  EXPECT_EQ(w.expectations[0].line, 5);
  EXPECT_EQ(w.expectations[1].counter, "audits");
  EXPECT_EQ(w.stress_args,
            (std::vector<std::string>{"--cpu", "4", "--affinity-rand", "--cpu-method", "int64"}));
  ASSERT_EQ(w.options.size(), 3u);
  EXPECT_EQ(w.options[1].line, 11);
  EXPECT_EQ(aq::stress_ng_command(w, "/usr/bin/stress-ng"),
            (std::vector<std::string>{"/usr/bin/stress-ng", "--cpu", "4", "--affinity-rand", "--cpu-method",
                                      "int64", "--timeout", "12s"}));
  EXPECT_EQ(aq::stress_ng_command(w, "sng", 3u).back(), "3s");
  EXPECT_EQ(aq::unmet_requirement(w, 2), std::nullopt);
  EXPECT_EQ(aq::unmet_requirement(w, 1), "needs cpus >= 2, have 1 (my-load)");
  EXPECT_TRUE(w.churn.empty());
}

TEST(Parse, ChurnKindsAreCollectedOnce) {
  auto w = aq::parse_workload(
      "# purpose: p\n# duration: 5\n# expect: nr_enqueued >= 1\n# churn: renice affinity\n# churn: renice\ncpu 1\n",
      "/x/c.job");
  EXPECT_EQ(w.churn, (std::vector<std::string>{"renice", "affinity"}));
}

struct Malformed {
  const char* what;
  std::string text;
  int line;
  const char* needle;
};

TEST(Parse, MalformedFilesGiveOneLineErrors) {
  const std::string h = good_header;
  const std::vector<Malformed> cases = {
      {"missing purpose", "# duration: 10\n# expect: nr_enqueued >= 1\ncpu 1\n", 1, "missing header '# purpose:"},
      {"missing duration", "# purpose: p\n# expect: nr_enqueued >= 1\ncpu 1\n", 1, "missing header '# duration:"},
      {"missing expect", "# purpose: p\n# duration: 10\ncpu 1\n", 1, "missing header '# expect:"},
      {"empty purpose", "# purpose:\n# duration: 10\n# expect: nr_enqueued >= 1\ncpu 1\n", 1,
       "missing value for 'purpose'"},
      {"no options", h + "\n# only comments\n", 1, "no stress-ng options"},
      {"bad duration", "# purpose: p\n# duration: ten\n# expect: nr_enqueued >= 1\ncpu 1\n", 2, "bad duration 'ten'"},
      {"zero duration", "# purpose: p\n# duration: 0\n# expect: nr_enqueued >= 1\ncpu 1\n", 2, "bad duration '0'"},
      {"duplicate duration", h + "# duration: 5\ncpu 1\n", 4, "duplicate 'duration' (first on line 2)"},
      {"bad expect op", h + "# expect: nr_dequeued > 3\ncpu 1\n", 4, "bad expect 'nr_dequeued > 3'"},
      {"bad expect number", h + "# expect: nr_dequeued >= many\ncpu 1\n", 4, "expected '<counter> >= <N>'"},
      {"bad expect no counter", h + "# expect: >= 3\ncpu 1\n", 4, "bad expect '>= 3'"},
      {"unknown counter", h + "# expect: nr_bogus >= 3\ncpu 1\n", 4, "unknown counter 'nr_bogus' in expect"},
      {"vacuous expect", h + "# expect: nr_dequeued >= 0\ncpu 1\n", 4, "vacuous expect"},
      {"duplicate expect", h + "# expect: nr_enqueued >= 9\ncpu 1\n", 4, "duplicate expect for 'nr_enqueued'"},
      {"bad requires", h + "# requires: memory >= 2\ncpu 1\n", 4, "bad requires 'memory >= 2'"},
      {"unknown header key", h + "# expects: nr_enqueued >= 1\ncpu 1\n", 4, "unknown header key 'expects'"},
      {"capitalised key", h + "# Duration: 10\ncpu 1\n", 4, "unknown header key 'Duration'"},
      {"key after body", h + "cpu 1\n# expect: nr_dequeued >= 1\n", 5, "header key 'expect' after the first option line"},
      {"timeout", h + "cpu 1\ntimeout 10\n", 5, "'timeout' is not allowed"},
      {"timeout abbreviated", h + "cpu 1\ntimeo 10\n", 5, "'timeo' abbreviates 'timeout'"},
      {"sequential", h + "sequential 2\n", 4, "'sequential' is not allowed"},
      {"yaml", h + "cpu 1\nyaml out.yaml\n", 5, "'yaml' is not allowed"},
      {"run sequential", h + "run sequential\ncpu 1\n", 4, "'run sequential' is not supported"},
      {"run without value", h + "run\ncpu 1\n", 4, "missing value for 'run'"},
      {"leading dashes", h + "--cpu 1\n", 4, "write options without leading dashes ('cpu ...')"},
      {"name=value", h + "cpu=1\n", 4, "write 'name value', not 'name=value'"},
      {"upper case", h + "CPU 1\n", 4, "bad option syntax 'CPU'"},
      {"too many values", h + "cpu 1 2\n", 4, "too many values for 'cpu'"},
      {"unknown churn", h + "# churn: renice wobble\ncpu 1\n", 4, "unknown churn 'wobble' (known: renice, affinity)"},
  };
  TempDir d;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto path = d.str() + "/t.job";
    std::string what = load_error(d, c.text);
    ASSERT_FALSE(what.empty()) << "loaded without error";
    expect_one_line_at(what, path, c.line, c.needle);
  }
}

TEST(Parse, ErrorCarriesFileAndLine) {
  try {
    aq::parse_workload(std::string(good_header) + "timeout 3\n", "w/x.job");
    FAIL() << "no error";
  } catch (const aq::WorkloadError& e) {
    EXPECT_EQ(e.file(), "w/x.job");
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(std::string(e.what()), "w/x.job:4: " + e.message());
  }
}

TEST(Parse, MissingFile) {
  TempDir d;
  try {
    aq::load_workload(d.str() + "/nope.job");
    FAIL() << "no error";
  } catch (const aq::WorkloadError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(d.str() + "/nope.job: cannot open", 0), 0u) << e.what();
  }
}

struct Rejected {
  const char* what;
  std::string body;  // after the 3-line header: first body line is line 4
  int line;
  const char* needle;
};

TEST(StressNg, RejectedOptionPointsAtItsLine) {
  if (stress_ng.empty()) GTEST_SKIP() << "stress-ng not installed";
  const std::vector<Rejected> cases = {
      {"unknown option", "cpu 1\n# prose\ncpux 2\ncpu-method int64\n", 6, "unknown stress-ng option 'cpux'"},
      {"missing value", "cpu 1\ncpu-method\n", 5, "missing value for 'cpu-method'"},
      {"missing stressor count", "yield 1\ncpu\n", 5, "missing value for 'cpu'"},
      {"bad value", "cpu 1\ncpu-method bogus\n", 5, "stress-ng rejects 'cpu-method bogus': cpu-method must be one of"},
      {"non-numeric count", "cpu lots\n", 4, "stress-ng rejects 'cpu lots'"},
  };
  TempDir d;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto path = d.write("t.job", std::string(good_header) + c.body);
    auto w = aq::load_workload(path);  // the parser itself accepts these
    try {
      aq::validate_with_stress_ng(w, stress_ng);
      ADD_FAILURE() << "stress-ng accepted it";
    } catch (const aq::WorkloadError& e) {
      expect_one_line_at(e.what(), path, c.line, c.needle);
    }
  }
}

TEST(StressNg, AcceptsValidOptions) {
  if (stress_ng.empty()) GTEST_SKIP() << "stress-ng not installed";
  TempDir d;
  auto w = aq::load_workload(d.write("ok.job", std::string(good_header) + "run parallel\ncpu 2\ncpu-method int64\n"));
  EXPECT_NO_THROW(aq::validate_with_stress_ng(w, stress_ng));
}

TEST(StressNg, MissingBinaryIsNotAWorkloadError) {
  auto w = aq::parse_workload(std::string(good_header) + "cpu 1\n", "x.job");
  EXPECT_THROW(aq::validate_with_stress_ng(w, "/nonexistent/stress-ng"), std::runtime_error);
  try {
    aq::validate_with_stress_ng(w, "/nonexistent/stress-ng");
  } catch (const aq::WorkloadError&) {
    ADD_FAILURE() << "a missing stress-ng is not the workload's fault";
  } catch (const std::runtime_error&) {
  }
}

TEST(Coverage, ShortfallsAreReported) {
  auto w = aq::parse_workload(
      "# purpose: p\n# duration: 10\n"
      "# expect: nr_deq_sched_change >= 20\n"
      "# expect: nr_deq_removed >= 10\n"
      "# expect: audits >= 1\n"
      "affinity 1\n",
      "workloads/affinity-churn.job");
  std::map<std::string, std::uint64_t> c = {{"nr_deq_sched_change", 25}, {"nr_deq_removed", 3}};
  auto why = aq::check_coverage(w, c);
  ASSERT_EQ(why.size(), 2u);
  EXPECT_EQ(why[0], "no coverage: nr_deq_removed = 3 < 10 (affinity-churn)");
  EXPECT_EQ(why[1], "no coverage: audits not reported (affinity-churn)");

  c["nr_deq_removed"] = 10;  // the minimum itself is enough
  c["audits"] = 4;
  EXPECT_TRUE(aq::check_coverage(w, c).empty());

  c["nr_deq_sched_change"] = 0;
  why = aq::check_coverage(w, c);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "no coverage: nr_deq_sched_change = 0 < 20 (affinity-churn)");
}
