#include "dispatch/backends/app_stderr.h"

#include <string>

namespace gw {

void AppStderr::feed(std::string_view data, ResponseSink& sink) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view piece = data.substr(0, nl);
    if (!skip_) {
      // One byte over the bound is kept so that the log shows the cut.
      size_t room = kLineBytes + 1 - line_.size();
      line_.append(piece.substr(0, room));
      if (line_.size() > kLineBytes) {
        log_line(sink);
        skip_ = true;
      }
    }
    if (nl == std::string_view::npos) return;
    if (!skip_) log_line(sink);
    skip_ = false;
    data.remove_prefix(nl + 1);
  }
}

void AppStderr::flush(ResponseSink& sink) {
  if (!line_.empty()) log_line(sink);
}

void AppStderr::log_line(ResponseSink& sink) {
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty() && logged_ < kTotalBytes) {
    logged_ += line.size();
    std::string message = prefix_;
    if (line.size() > kLineBytes) {
      message.append(line.substr(0, kLineBytes));
      message += " [cut at " + std::to_string(kLineBytes) + " bytes]";
    } else {
      message.append(line);
    }
    line_.clear();
    sink.log_error(message);
    if (logged_ >= kTotalBytes) {
      sink.log_error(prefix_ + "over " + std::to_string(kTotalBytes) +
                     " bytes; the rest is not logged");
    }
  }
  line_.clear();
}

}  // namespace gw
