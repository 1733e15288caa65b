#include "common/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace aq {

std::filesystem::path find_program(std::string_view name) {
  namespace fs = std::filesystem;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    const fs::path candidate = fs::path(dirs.substr(0, colon)) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& o) {
  using Clock = std::chrono::steady_clock;
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const bool capture = o.log_path.empty() && !o.inherit_output;
  int fds[2] = {-1, -1};
  if (capture && ::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));

  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    const int out = o.inherit_output ? -1
                    : capture        ? fds[1]
                                     : ::open(o.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
    }
    if (const int null = ::open("/dev/null", O_RDONLY); null >= 0) ::dup2(null, STDIN_FILENO);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  if (capture) {
    ::close(fds[1]);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  }

  ProcessResult r;
  std::array<char, 4096> buf{};
  const auto drain = [&] {
    if (capture)
      for (ssize_t n; (n = ::read(fds[0], buf.data(), buf.size())) > 0;) r.output.append(buf.data(), n);
  };
  const auto deadline = t0 + std::chrono::seconds(o.timeout_s);
  int status = 0;
  while (true) {
    drain();
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      r.exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    const bool late = o.timeout_s > 0 && Clock::now() >= deadline;
    if (late || (o.stop && o.stop())) {
      if (o.term_first) {
        ::kill(-pid, SIGTERM);
        std::this_thread::sleep_for(std::chrono::seconds(3));
      }
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.exit = late ? -1 : -2;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(capture ? 20 : 200));
  }
  drain();
  if (capture) ::close(fds[0]);
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace aq
