// The one parser for CGI-style response heads (RFC 3875 section 6): what a
// CGI script writes to stdout, what a FastCGI application sends in STDOUT and
// what an SCGI application answers. Pure and incremental, like every codec.
//
// Accepted input:
//  * Header lines "Name: value" ending in CRLF or a bare LF; an empty line
//    ends the head and everything after it is body.
//  * The name is an RFC 9110 token with no space before ':'; leading and
//    trailing spaces/tabs of the value are dropped.
//  * As the very first line only, an HTTP status line ("HTTP/1.1 200 OK", or
//    "HTTP/1.0 404"), as nph scripts and some SCGI/FastCGI backends send
//    although RFC 3875 has no place for it: it sets the status like a
//    Status header would. Later status lines are malformed.
//
// Rejected, with a 502 error (a backend that sends these is broken or
// hostile; forwarding them could split or smuggle a response). Field lines
// follow the HTTP/1.1 rules of protocols/http1_common (parse_field_line):
//  * a line without ':', a name that is not a token, a space before ':';
//  * obs-fold (a line starting with a space or tab), a CR (other than that
//    of a CRLF ending), NUL or other control byte in a value;
//  * Status not exactly three digits 100..999 (optionally followed by a space
//    and a reason); more than one Status (a status line counts as one) or
//    more than one Location; an empty Location;
//  * a head larger than limits.header_bytes (counting line endings and the
//    final empty line), more than limits.header_count lines, a name longer
//    than limits.name_bytes or a value longer than limits.value_bytes.
//
// The status (RFC 3875 6.2):
//  * Status header or status line: that status and its reason.
//  * else Location that is a local path ("/path?query", not "//host"): a
//    local redirect (6.2.2). local_redirect() returns the value as sent
//    (still percent-encoded) and head().status is 0, meaning "no response":
//    the caller discards the body and re-runs the request internally for
//    that path. Callers must bound how many internal redirects one request
//    may take, or a script redirecting to itself loops forever.
//  * else Location (absolute URL "scheme://...", or any other reference):
//    302, a client redirect.
//  * else 200.
// The Status header is not kept in head().headers; every other header is,
// in the order sent, Location included.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocols/codec.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw {

struct CgiFeedResult {
  size_t consumed = 0;              // bytes of `in` that belong to the head
  bool done = false;                // the head is complete; the rest of `in` is body
  std::optional<CodecError> error;  // final: every later feed() returns it again
};

class CgiResponseParser {
 public:
  explicit CgiResponseParser(const Limits& limits = Limits{});

  // Feeds the next bytes of the response. Until the head is complete every
  // byte is consumed (a partial line is kept inside, bounded by
  // limits.header_bytes); once done, consumed stops right after the empty
  // line and the caller treats the unconsumed rest, and everything after it,
  // as body. After done or an error, feed() consumes nothing.
  CgiFeedResult feed(std::string_view in);

  bool done() const { return state_ == State::Done; }
  bool failed() const { return state_ == State::Failed; }

  // Valid once done().
  const ResponseHead& head() const { return head_; }
  ResponseHead take_head() { return std::move(head_); }
  // Set when the response is a local redirect (see above): path and query.
  const std::optional<std::string>& local_redirect() const { return local_redirect_; }

 private:
  enum class State { Head, Done, Failed };

  CgiFeedResult fail(int status, std::string what);
  // Handles one complete line without its line ending. Returns an error
  // message when the line is malformed.
  std::optional<std::string> on_line(std::string_view line);
  std::optional<std::string> on_header(std::string_view name, std::string_view value);
  std::optional<std::string> set_status(std::string_view digits_and_reason, std::string_view bad);
  void finish_head();

  Limits limits_;
  State state_ = State::Head;
  std::string partial_;    // bytes of an unfinished line
  size_t head_bytes_ = 0;  // bytes consumed so far, line endings included
  size_t lines_ = 0;       // header lines seen (status line and Status included)
  bool status_seen_ = false;
  bool location_seen_ = false;
  ResponseHead head_;
  std::optional<std::string> local_redirect_;
  CodecError error_;
};

}  // namespace gw
