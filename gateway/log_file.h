// An access-log (or slow-log) file: lines are appended to a buffer and
// written with one write(2) per flush, never an fsync. The owner flushes
// once per loop turn; a buffer past kFlushBytes is written at once so that
// memory stays bounded under load. reopen() opens the path again
// (logrotate moved the file: the next lines go to a new file at the path).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gw {

class LogFile {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;

  // Opens `path` for appending (created 0640). Null and `error` set on failure.
  static std::unique_ptr<LogFile> open(const std::string& path, std::string& error);
  ~LogFile();  // flushes
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Appends whole lines (each ending in '\n').
  void append(std::string_view lines);
  bool pending() const { return !buffer_.empty(); }
  // Writes the buffer. A failed write (disk full, ...) drops the buffer and
  // counts the lost bytes: a log must never stall or grow the daemon.
  void flush();
  // Flushes, then opens the path again. Returns "" or why it could not (the
  // old file is kept then).
  std::string reopen();

  const std::string& path() const { return path_; }
  uint64_t bytes_dropped() const { return dropped_; }
  // The error of the last failed write, cleared by the caller.
  std::string take_write_error() { return std::move(write_error_); }

 private:
  LogFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
  std::string buffer_;
  uint64_t dropped_ = 0;
  std::string write_error_;
};

}  // namespace gw
