// HTTP/1.1 client side, for the `http` backend (gatewayd as a reverse proxy
// in front of an app server): a request encoder and a strict, incremental
// response parser (RFC 9112).
//
// The parser reads one response at a time. It skips interim 1xx responses
// (101 is an error: we never ask to switch protocols), reads Content-Length,
// chunked and close-delimited bodies, and treats every framing ambiguity
// (CL with TE, differing CLs, obs-fold, bad chunk sizes, TE on HTTP/1.0) as
// an error: on a pooled upstream connection, a misread length would hand one
// client's response bytes to the next.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/codec.h"
#include "protocols/http1_common.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw {

namespace http1 {

struct ResponseStarted {
  ResponseHead head;       // hop-by-hop fields removed; Content-Length kept when it framed the body
  bool keep_alive = true;  // the upstream connection may carry another request afterwards
};
struct ResponseBody {
  std::string_view data;  // view into feed()'s input
};
struct ResponseEnd {};
using ClientEvent = std::variant<ResponseStarted, ResponseBody, ResponseEnd>;

// Writes "METHOD target HTTP/1.1", the fields of `headers` except the
// hop-by-hop ones (and Content-Length, Expect, which it manages), then the
// framing: "Content-Length: N" when the length is known (omitted for 0 when
// !has_body), else "Transfer-Encoding: chunked" when has_body (the method
// carries a body of unknown length). Fields whose name or value could not
// travel safely (CR, LF, NUL, a non-token name) are dropped. `headers` must
// hold the Host field. Returns false (and writes nothing) when the method is
// not a token or the target not a valid origin-form or '*' target.
bool encode_request_head(std::string& out, std::string_view method, std::string_view target,
                         const std::vector<Header>& headers, std::optional<uint64_t> content_length,
                         bool has_body);

// Request body bytes: one chunk when chunked (nothing for empty data), else
// the bytes as they are.
void encode_body_chunk(std::string& out, std::string_view data, bool chunked);
// The end of the request body: the last chunk when chunked, else nothing.
void encode_body_end(std::string& out, bool chunked);

}  // namespace http1

class Http1ResponseParser {
 public:
  // The method of the request the response answers: "HEAD" has no body.
  explicit Http1ResponseParser(const Limits& limits, std::string_view request_method = "GET");

  // Same contract as ServerCodec::feed: any split, returns what it consumed,
  // leaves a partial head unconsumed (within Limits), never consumes past the
  // end of the response. Errors carry http_status 502 and are final.
  FeedResult feed(std::string_view in, std::vector<http1::ClientEvent>& events);

  // The upstream closed its side. Ends a close-delimited body (ResponseEnd);
  // anything else unfinished is an error (a truncated response).
  std::optional<CodecError> finish_eof(std::vector<http1::ClientEvent>& events);

  // Ready for the next response on a kept-alive connection.
  void reset(std::string_view request_method = "GET");

  bool done() const { return state_ == State::Done; }  // ResponseEnd was emitted
  // Whether any byte of this response arrived: a kept-alive connection that
  // the upstream closed before answering may be retried, one that started
  // answering may not.
  bool received_any() const { return received_any_; }

 private:
  enum class State : uint8_t {
    StatusLine,
    Fields,
    Body,  // Content-Length
    ChunkedBody,
    UntilClose,  // close-delimited
    Done,
    Failed,
  };

  bool on_status_line(std::string_view in, size_t& used);
  bool on_field_line(std::string_view in, size_t& used, std::vector<http1::ClientEvent>& events);
  bool on_body(std::string_view in, size_t& used, std::vector<http1::ClientEvent>& events);
  bool on_chunked_body(std::string_view in, size_t& used, std::vector<http1::ClientEvent>& events);

  http1::Problem parse_status_line(std::string_view line);
  http1::Problem add_field(const http1::FieldLine& field);
  void finish_head(std::vector<http1::ClientEvent>& events);
  void start_head();
  void end_response(std::vector<http1::ClientEvent>& events);
  void fail(std::string detail);

  Limits limits_;
  bool head_request_ = false;
  State state_ = State::StatusLine;
  http1::LineReader lines_;
  http1::ChunkedDecoder chunked_;
  bool received_any_ = false;
  unsigned interim_count_ = 0;

  // The head being parsed.
  ResponseHead head_;
  bool http11_ = false;
  size_t head_bytes_ = 0;
  size_t fields_ = 0;
  std::optional<uint64_t> content_length_;
  http1::TransferCoding coding_;
  http1::ConnectionOptions connection_;

  uint64_t body_remaining_ = 0;
  std::optional<CodecError> error_;
};

}  // namespace gw
