#include "common/kmsg.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace aq {

KernelLog::KernelLog() {
  fd_ = ::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ >= 0) ::lseek(fd_, 0, SEEK_END);
}

KernelLog::~KernelLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::string> KernelLog::read_new() {
  std::vector<std::string> out;
  if (fd_ < 0) return out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf - 1);
    if (n < 0 && errno == EPIPE) continue;  // records overwritten: skip ahead
    if (n <= 0) break;
    // "prio,seq,usec,flags;message\n" followed by optional " KEY=value" lines;
    // returned as the console shows it: "[    5.681110] message".
    std::string rec(buf, static_cast<std::size_t>(n));
    auto semi = rec.find(';');
    auto nl = rec.find('\n');
    if (semi == std::string::npos) continue;
    unsigned long long usec = 0;
    std::sscanf(rec.c_str(), "%*d,%*llu,%llu", &usec);
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "[%5llu.%06llu] ", usec / 1000000, usec % 1000000);
    out.push_back(stamp + rec.substr(semi + 1, (nl == std::string::npos ? rec.size() : nl) - semi - 1));
  }
  return out;
}

}  // namespace aq
