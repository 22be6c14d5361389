// SCGI, server side: the web server's netstring of CGI variables and the
// body in, Request events out; the response written CGI-style.
// docs: protocols.md section 2.
//
// Behaviour beyond codec.h:
//  * The header block is a netstring "<len>:<block>,": len is decimal, at
//    most 8 digits, no leading zero, and at most Limits::header_bytes (and
//    what the input buffer can hold); a longer block is refused as soon as
//    its length is read, before any of it is buffered. The block is
//    (name NUL value NUL)*: non-empty names, at most header_count pairs,
//    names and values within name_bytes / value_bytes, no name twice.
//  * The first variable must be CONTENT_LENGTH with a non-empty value of
//    digits only; SCGI must be present with the value "1". The variables
//    become a Request through request_from_cgi (strict CONTENT_LENGTH).
//  * The body is exactly CONTENT_LENGTH bytes, streamed as it arrives. One
//    request per connection: nothing after the body is consumed.
//  * Bad input is an error (the caller closes the connection) and feed()
//    also appends a short CGI answer ("Status: 400 Bad Request", 413 for a
//    CONTENT_LENGTH over Limits::max_body_bytes, 431 for header limits) so
//    that the web server in front passes a clear status on.
//  * The response is a CGI head ("Status: 200 OK", never an HTTP status
//    line) and the raw body, no body for HEAD; write_end() returns false:
//    closing the connection is how SCGI ends a response.
#pragma once

#include <cstdint>
#include <optional>

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

 private:
  enum class Phase : uint8_t { Head, Body, Done, Failed };

  // Parses the netstring at the start of `in`: the block's size once known
  // (nullopt while the digits are incomplete), or an error.
  std::optional<CodecError> parse_length(std::string_view in, std::optional<size_t>& digits,
                                         std::optional<size_t>& block) const;
  std::optional<CodecError> parse_block(std::string_view block, Request& request) const;
  FeedResult fail(CodecError error, std::string& out);

  Limits limits_;
  size_t max_block_;
  Phase phase_ = Phase::Head;
  uint64_t body_left_ = 0;
  bool head_only_ = false;
  bool head_written_ = false;
};

}  // namespace gw
