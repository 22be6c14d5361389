// What an app writes to its error stream (a CGI script's stderr, FastCGI's
// FCGI_STDERR), turned into error-log lines: one per line the app wrote, cut
// at kLineBytes, and at most kTotalBytes per request (an app looping on a
// warning must not flood the log). The text goes on as the app wrote it: the
// error log escapes control characters and backslashes in every line it
// writes (log::escape), so app output can never forge a log line, and an
// escape here as well would show a tab as "\\x09".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dispatch/backend.h"

namespace gw {

class AppStderr {
 public:
  static constexpr size_t kLineBytes = 1024;
  static constexpr size_t kTotalBytes = 64 * 1024;

  // `prefix` starts every line: "cgi /srv/app.cgi: stderr: ".
  explicit AppStderr(std::string prefix) : prefix_(std::move(prefix)) {}
  // Once the app's pid is known: "cgi /srv/app.cgi [pid 123]: stderr: ".
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

  // Logs each complete line of `data` (CR LF or LF) through sink.log_error.
  void feed(std::string_view data, ResponseSink& sink);
  // Logs the unfinished last line, if any (at EOF or the end of the request).
  void flush(ResponseSink& sink);

 private:
  void log_line(ResponseSink& sink);

  std::string prefix_;
  std::string line_;
  bool skip_ = false;  // the rest of a line already cut
  size_t logged_ = 0;
};

}  // namespace gw
