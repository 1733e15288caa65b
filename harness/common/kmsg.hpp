// The kernel log from the start of a run: new /dev/kmsg records only.
#pragma once

#include <string>
#include <vector>

namespace aq {

class KernelLog {
 public:
  KernelLog();  // positions at the end of the log; unreadable log -> empty reads
  ~KernelLog();
  KernelLog(const KernelLog&) = delete;
  KernelLog& operator=(const KernelLog&) = delete;

  // Messages logged since the previous call (or construction), one per line,
  // with the console's "[    5.681110] " timestamp prefix.
  std::vector<std::string> read_new();
  bool available() const { return fd_ >= 0; }
  int fd() const { return fd_; }  // to poll() for new records

 private:
  int fd_ = -1;
};

}  // namespace aq
