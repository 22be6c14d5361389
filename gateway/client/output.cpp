// gatewayd-client's stdout and stderr (see output.h).
#include "gateway/client/output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "gateway/client/wire.h"

namespace gw::client {

std::string status_line(const ResponseHead& head) {
  std::string reason = head.reason.empty() ? std::string(reason_phrase(head.status)) : head.reason;
  return "HTTP/1.1 " + std::to_string(head.status) + " " + reason;
}

bool Output::body(std::string_view data) {
  if (stdout_errno_ != 0) return false;
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
    stdout_errno_ = errno != 0 ? errno : EIO;
    return false;
  }
  return true;
}

bool Output::head(const ResponseHead& head) {
  // A CGI local redirect (status 0) has no status line, only its Location.
  std::string text = head.status == 0 ? std::string() : status_line(head) + "\r\n";
  for (const Header& h : head.headers) text += h.name + ": " + h.value + "\r\n";
  text += "\r\n";
  return body(text);
}

bool Output::flush() {
  if (stdout_errno_ == 0 && std::fflush(stdout) != 0) stdout_errno_ = errno != 0 ? errno : EIO;
  return stdout_errno_ == 0;
}

std::optional<ClientError> Output::stdout_error() const {
  if (stdout_errno_ == 0) return std::nullopt;
  return ClientError{Failure::Output, std::string("cannot write the response to stdout: ") +
                                          strerror(stdout_errno_)};
}

void Output::line(char mark, std::string_view text) {
  std::fprintf(stderr, "%c %.*s\n", mark, static_cast<int>(text.size()), text.data());
}

void Output::sent(std::string_view text) {
  if (verbose_) line('>', text);
}

void Output::received(std::string_view text) {
  if (verbose_) line('<', text);
}

void Output::info(std::string_view text) {
  if (verbose_) line('*', text);
}

void Output::received_head(const ResponseHead& head) {
  if (!verbose_) return;
  received(status_line(head));
  for (const Header& h : head.headers) received(h.name + ": " + escaped(h.value, 200));
}

void Output::app_stderr(std::string_view data) {
  std::fwrite(data.data(), 1, data.size(), stderr);
}

void Output::warning(std::string_view what) {
  std::fprintf(stderr, "%.*s: warning: %.*s\n", static_cast<int>(kProgram.size()), kProgram.data(),
               static_cast<int>(what.size()), what.data());
}

void Output::error(std::string_view what) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(kProgram.size()), kProgram.data(),
               static_cast<int>(what.size()), what.data());
}

}  // namespace gw::client
