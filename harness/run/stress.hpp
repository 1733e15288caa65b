// stress-ng as a child process of the run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aq {

class StressChild {
 public:
  // Starts `stress_ng args... --timeout <secs>s --yaml <yaml>` in its own process group.
  StressChild(const std::string& stress_ng, const std::vector<std::string>& args, int secs,
              const std::string& yaml_path);
  ~StressChild();  // kills the group if still running
  StressChild(const StressChild&) = delete;
  StressChild& operator=(const StressChild&) = delete;

  pid_t pid() const { return pid_; }  // also its process group
  bool poll();               // true once exited
  void kill();               // SIGTERM, then SIGKILL after 2 s
  // Ends the run early as Ctrl-C does (SIGINT to stress-ng's main process,
  // which stops every stressor and lets each write its bogo-op counter and
  // checksum), so its end-of-run metrics check sees a normal finish; kill()
  // if it is not gone in 10 s.  Not SIGALRM: stress-ng's main process
  // ignores it (each stressor times itself), so the kill() came, stressors
  // died mid-write, and stress-ng failed its own metrics check ("pipe
  // instance 0 corrupted bogo-ops counter"): sleep-wake under --cycles
  // FAILed on a good kernel.
  void stop();
  int exit_code() const { return code_; }  // 0.. or 128+signal; -1 while running
  std::string describe_exit() const;
  const std::vector<std::string>& argv() const { return argv_; }

 private:
  pid_t pid_ = -1;
  int code_ = -1;
  std::vector<std::string> argv_;
};

// bogo-ops per stressor from a stress-ng --yaml file (empty if unreadable).
std::map<std::string, double> read_bogo_ops(const std::string& yaml_path);

// Runs stress-ng to completion (no scheduler involved): used for baselines.
int run_stress_blocking(const std::string& stress_ng, const std::vector<std::string>& args, int secs,
                        const std::string& yaml_path);

}  // namespace aq
