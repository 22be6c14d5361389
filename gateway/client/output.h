// What gatewayd-client prints: the response body (and, with -i, its head)
// on stdout; errors, warnings, the app's FCGI_STDERR and the -v trace
// ("> " sent, "< " received, "* " about the connection) on stderr.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gateway/client/errors.h"
#include "protocols/request.h"

namespace gw::client {

class Output {
 public:
  explicit Output(bool verbose) : verbose_(verbose) {}

  bool verbose() const { return verbose_; }

  // Response bytes to stdout. false once a write failed (see stdout_error).
  bool body(std::string_view data);
  // -i: the status line (none for a CGI local redirect) and the headers as
  // parsed, then an empty line.
  bool head(const ResponseHead& head);
  bool flush();
  // Why stdout failed, if it did.
  std::optional<ClientError> stdout_error() const;

  void sent(std::string_view line);      // -v only
  void received(std::string_view line);  // -v only
  void info(std::string_view line);      // -v only
  // The head as -v shows it: "< HTTP/1.1 200 OK", "< Name: value".
  void received_head(const ResponseHead& head);
  void app_stderr(std::string_view data);  // always, as the app wrote it
  void warning(std::string_view what);     // always
  void error(std::string_view what);       // always: "gatewayd-client: WHAT"

 private:
  void line(char mark, std::string_view text);

  bool verbose_;
  int stdout_errno_ = 0;
};

// "HTTP/1.1 200 OK": the status line -i and -v print for every protocol
// (the reason as sent, else the standard phrase).
std::string status_line(const ResponseHead& head);

}  // namespace gw::client
