#include "run/stress.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace aq {

StressChild::StressChild(const std::string& stress_ng, const std::vector<std::string>& args, int secs,
                         const std::string& yaml_path) {
  argv_.push_back(stress_ng);
  argv_.insert(argv_.end(), args.begin(), args.end());
  argv_.insert(argv_.end(), {"--timeout", fmt::format("{}s", secs), "--metrics-brief", "--yaml", yaml_path});
  std::vector<char*> cargv;
  for (auto& a : argv_) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(fmt::format("fork: {}", strerror(errno)));
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::execvp(cargv[0], cargv.data());
    fmt::print(stderr, "aqcheck: error: cannot run {}: {}\n", cargv[0], strerror(errno));
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
}

StressChild::~StressChild() {
  if (code_ < 0 && pid_ > 0) kill();
}

bool StressChild::poll() {
  if (code_ >= 0) return true;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
  code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  ::kill(-pid_, SIGKILL);  // stray stressor children
  return true;
}

void StressChild::kill() {
  if (poll()) return;
  ::kill(-pid_, SIGTERM);
  for (int i = 0; i < 200 && !poll(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!poll()) {
    ::kill(-pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    code_ = 128 + SIGKILL;
  }
}

void StressChild::stop() {
  if (poll()) return;
  ::kill(pid_, SIGINT);
  for (int i = 0; i < 1000 && !poll(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill();
}

std::string StressChild::describe_exit() const {
  if (code_ < 0) return "still running";
  if (code_ > 128) return fmt::format("killed by signal {}", code_ - 128);
  return fmt::format("exit status {}", code_);
}

std::map<std::string, double> read_bogo_ops(const std::string& yaml_path) {
  std::map<std::string, double> out;
  std::ifstream in(yaml_path);
  std::string line, stressor;
  auto value_of = [](const std::string& l) {
    auto c = l.find(':');
    auto v = l.substr(c + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  };
  while (std::getline(in, line)) {
    if (line.find("- stressor:") != std::string::npos) stressor = value_of(line);
    else if (!stressor.empty() && line.find(" bogo-ops:") != std::string::npos)
      out[stressor] = std::stod(value_of(line));
  }
  return out;
}

int run_stress_blocking(const std::string& stress_ng, const std::vector<std::string>& args, int secs,
                        const std::string& yaml_path) {
  StressChild child(stress_ng, args, secs, yaml_path);
  while (!child.poll()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return child.exit_code();
}

}  // namespace aq
