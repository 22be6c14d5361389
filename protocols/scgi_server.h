// SCGI, server side: the web server's netstring of CGI variables and the
// body in, Request events out; the response written CGI-style.
// docs: protocols.md section 2.
//
// Behaviour beyond codec.h:
//  * The header block is a netstring "<len>:<block>,": len is decimal, at
//    most 8 digits, no leading zero (only "0" itself), and at most
//    Limits::header_bytes (and what the input buffer can hold with the
//    digits and separators). A longer block is refused as soon as its length
//    digits show it, before any of the block is buffered. The byte after the
//    block must be ','.
//  * The block is (name NUL value NUL)*: non-empty names, at most
//    header_count pairs, names and values within name_bytes / value_bytes,
//    no name twice. The first variable must be CONTENT_LENGTH with a
//    non-empty value of digits only; SCGI must be present with the value
//    "1". The variables become a Request through request_from_cgi (strict
//    CONTENT_LENGTH).
//  * The body is exactly CONTENT_LENGTH bytes, streamed as it arrives, then
//    BodyEnd (at once for 0). A CONTENT_LENGTH over Limits::max_body_bytes
//    (when set) is refused with 413.
//  * One request per connection: nothing after the body is consumed, ever.
//    Bytes a front end sends after it are no request; they wait in the
//    caller's buffer until the connection closes after the response.
//  * Bad input is an error (431 for a block or variable over a limit, 413
//    for the body, else 400) and feed() also appends a short CGI answer
//    ("Status: 400 Bad Request", a text/plain one-line body) so that the web
//    server in front passes a clear status on; the caller writes `out` and
//    closes. Later feed() calls return the same error, consume nothing and
//    write nothing.
//  * The response is a CGI head ("Status: 200 OK", never an HTTP status
//    line, which mod_proxy_scgi would turn into a 500) and the raw body; no
//    body for HEAD. write_end() and write_abort() return false: closing the
//    connection is how SCGI ends a response, and a response cut short can
//    only be told by the close too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/codec.h"
#include "protocols/limits.h"

namespace gw {

class ScgiServerCodec final : public ServerCodec {
 public:
  explicit ScgiServerCodec(const Limits& limits);

  FeedResult feed(std::string_view in, std::vector<Event>& events, std::string& out) override;
  void write_head(StreamId stream, const ResponseHead& head, std::string& out) override;
  void write_body(StreamId stream, std::string_view data, std::string& out) override;
  bool write_end(StreamId stream, std::string& out) override;
  bool peer_finished() const override { return true; }  // one request per connection
  bool answers_after_half_close() const override { return true; }
  bool write_abort(StreamId stream, std::string& out) override;

 private:
  enum class Phase : uint8_t { Head, Body, Done, Failed };
  enum class Response : uint8_t { None, Started, Ended };

  // "<len>:" at the start of the input: `digits` bytes of length, then ':'.
  struct LengthPrefix {
    size_t digits = 0;
    size_t block = 0;
  };

  FeedResult feed_head(std::string_view in, std::vector<Event>& events, std::string& out);
  size_t feed_body(std::string_view in, std::vector<Event>& events);
  // Reads the length prefix; `prefix` stays empty while more digits may come.
  std::optional<CodecError> parse_length(std::string_view in,
                                         std::optional<LengthPrefix>& prefix) const;
  std::optional<CodecError> parse_block(std::string_view block, std::vector<Header>& vars) const;
  std::optional<CodecError> check_scgi_vars(const std::vector<Header>& vars) const;
  FeedResult fail(CodecError error, std::string& out);

  Limits limits_;
  size_t max_block_;  // the header block bound: header_bytes or the input buffer's room
  Phase phase_ = Phase::Head;
  std::optional<CodecError> error_;  // set in Phase::Failed
  uint64_t body_left_ = 0;
  bool head_only_ = false;  // a HEAD request: the response has no body
  Response response_ = Response::None;
};

}  // namespace gw
