// What an app writes to its error stream (a CGI script's stderr, FastCGI's
// FCGI_STDERR), turned into error-log lines: one per line the app wrote,
// escaped with quote_for_log so that app output can never forge a log line,
// cut at kLineBytes, and at most kTotalBytes per request (an app looping on
// a warning must not flood the log).
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
