// The batch plan: what it accepts, and one error line for what it does not.
#include <gtest/gtest.h>

#include "batch/batch.hpp"

namespace {

std::string plan(const std::string& runs) {
  return R"({"schema": "aqcheck-batch-plan/1", "runs": )" + runs + "}";
}

TEST(BatchPlan, RunsInOrderWithTheirArguments) {
  const auto runs = aq::parse_batch_plan(
      plan(R"([{"name": "lazy", "run": ["--workload", "nice-churn", "--variant", "lazy-removal"]},
               {"name": "smoke.2", "run": ["--stress", "--cpu 2 --fork 1"]}])"),
      "p.json");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].name, "lazy");
  EXPECT_EQ(runs[1].run, (std::vector<std::string>{"--stress", "--cpu 2 --fork 1"}));
  // Each run's report is named by the batch.
  EXPECT_EQ(aq::batch_run_args(runs[0], "/out/b"),
            (std::vector<std::string>{"--workload", "nice-churn", "--variant", "lazy-removal", "--json",
                                      "/out/b/lazy.json"}));
}

void expect_rejected(const std::string& text, const std::string& needle) {
  try {
    aq::parse_batch_plan(text, "p.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const aq::BatchPlanError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;  // one line
    EXPECT_EQ(what.rfind("p.json", 0), 0u) << what;          // names the plan
  }
}

TEST(BatchPlan, BadPlansAreOneLineNamingThePlan) {
  expect_rejected("not json", "not a JSON object");
  expect_rejected(R"({"schema": "x", "runs": [{"name": "a", "run": []}]})", "schema must be");
  expect_rejected(plan("[]"), "non-empty list");
  expect_rejected(plan(R"([{"name": "a b", "run": []}])"), "is not [A-Za-z0-9._-]+");
  expect_rejected(plan(R"([{"name": "a", "run": []}, {"name": "a", "run": []}])"), "given twice");
  expect_rejected(plan(R"([{"name": "a", "run": ["--json", "x.json"]}])"), "is the batch's to set");
  expect_rejected(plan(R"([{"name": "a", "run": ["--junit=x.xml"]}])"), "is the batch's to set");
  expect_rejected(plan(R"([{"name": "a", "run": [7]}])"), "must be a string");
  expect_rejected(plan(R"([{"name": "a", "run": [], "why": 1}])"), "unknown key 'why'");
  expect_rejected(R"({"schema": "aqcheck-batch-plan/1", "runs": [], "extra": 1})", "unknown key 'extra'");
}

TEST(BatchPlan, AMissingFileIsOneLine) {
  EXPECT_THROW(aq::load_batch_plan("/nonexistent/plan.json"), aq::BatchPlanError);
}

}  // namespace
