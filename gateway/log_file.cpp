// A buffered, reopenable append-only log file (see log_file.h).
#include "gateway/log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw {

namespace {

int open_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

}  // namespace

std::unique_ptr<LogFile> LogFile::open(const std::string& path, std::string& error) {
  int fd = open_append(path);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<LogFile>(new LogFile(path, fd));
}

LogFile::~LogFile() {
  flush();
  ::close(fd_);
}

void LogFile::append(std::string_view lines) {
  buffer_.append(lines);
  if (buffer_.size() >= kFlushBytes) flush();
}

void LogFile::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      write_error_ = path_ + ": " + (n < 0 ? std::strerror(errno) : "nothing written");
      dropped_ += buffer_.size() - done;
      break;
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  // A burst must not keep its peak allocation for the life of the daemon.
  if (buffer_.capacity() > 4 * kFlushBytes) buffer_.shrink_to_fit();
}

std::string LogFile::reopen() {
  flush();
  int fd = open_append(path_);
  if (fd < 0) return path_ + ": " + std::strerror(errno);
  ::close(fd_);
  fd_ = fd;
  return "";
}

}  // namespace gw
