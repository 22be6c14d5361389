// SCGI, client side (the web server's role): what an SCGI backend sends to an
// app (tracd --protocol=scgi, uWSGI's SCGI socket) and what a command-line
// client sends to gatewayd, and a reader for the app's answer.
// docs: protocols.md section 2.
//
// A request is the netstring from encode_request_head() followed by exactly
// `content_length` body bytes, sent raw by the caller. The app answers with
// a CGI response (RFC 3875 section 6) and closes the connection, which is
// the only end of the body SCGI has: ScgiResponseReader parses the head with
// CgiResponseParser, passes the rest through as body and turns EOF into the
// end of the response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/cgi_response.h"
#include "protocols/codec.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw {
namespace scgi {

// The netstring of CGI variables: CONTENT_LENGTH first (the given length),
// SCGI=1 second, then `cgi_vars` in order. Skipped from `cgi_vars`, because
// the format cannot carry them or the two above are authoritative:
//  * variables named CONTENT_LENGTH or SCGI;
//  * a name that is not a valid_cgi_name (empty, NUL, "=" or a control
//    character: an SCGI server refuses it), or a NUL in a value.
// Names are sent as given: a name that appears twice in `cgi_vars` is sent
// twice, and a conforming server (ours included) refuses the request, so
// callers pass unique names (cgi_from_request does). Nothing is truncated:
// servers bound the block (ours at Limits::header_bytes, 8 length digits).
std::string encode_request_head(const std::vector<Header>& cgi_vars, uint64_t content_length);

struct ResponseStarted {
  // head.status is 0 for a local redirect (see CgiResponseParser): the
  // caller discards the body and re-runs the request for local_redirect.
  ResponseHead head;
  std::optional<std::string> local_redirect;
};
struct ResponseBody {
  std::string_view data;  // view into feed()'s input
};
struct ResponseEnd {};
using ClientEvent = std::variant<ResponseStarted, ResponseBody, ResponseEnd>;

}  // namespace scgi

// An SCGI app's response, read until the app closes the connection.
class ScgiResponseReader {
 public:
  explicit ScgiResponseReader(const Limits& limits = Limits{});

  // Same contract as ServerCodec::feed: input split anywhere. Everything is
  // consumed unless it fails: an unfinished head line is kept inside
  // (bounded by limits.header_bytes), body bytes are passed on at once.
  // ResponseStarted comes once, when the head is complete. Errors are the
  // parser's (http_status 502) and final: later calls return them again
  // with no events. After finish_eof() nothing more is consumed.
  FeedResult feed(std::string_view in, std::vector<scgi::ClientEvent>& events);

  // The app closed its side: ResponseEnd once the head was complete, else
  // a 502 error (no response, or one cut inside its head).
  std::optional<CodecError> finish_eof(std::vector<scgi::ClientEvent>& events);

  bool started() const { return parser_.done(); }  // ResponseStarted was emitted
  bool done() const { return ended_; }             // ResponseEnd was emitted

 private:
  CgiResponseParser parser_;
  std::optional<CodecError> error_;
  bool received_any_ = false;
  bool ended_ = false;
};

}  // namespace gw
