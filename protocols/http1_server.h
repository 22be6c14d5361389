// HTTP/1.1 server side (RFC 9112): web servers and browsers talking HTTP to
// gatewayd. Follows the ServerCodec contract in protocols/codec.h.
//
// Requests: strict request line (origin-form, absolute-form, '*' for OPTIONS;
// HTTP/1.0 and HTTP/1.1), bounded head (414 for the request line, 431 for the
// fields), Content-Length or chunked bodies streamed as BodyData, Expect:
// 100-continue answered at RequestStarted. Anything ambiguous about where a
// request ends (CL with TE, differing CLs, TE other than chunked, TE on
// HTTP/1.0, obs-fold, bare CR/LF) is an error answered with a complete error
// response and "Connection: close".
//
// One request at a time: after a request's body ends the codec consumes
// nothing until write_end() or write_abort() for it, so pipelined requests
// wait in the caller's buffer. The stream id is always 1.
//
// Responses: always "HTTP/1.1". The codec owns the framing and the
// hop-by-hop fields: Content-Length when the head has a valid one, chunked
// for HTTP/1.1 clients otherwise, close-delimited for HTTP/1.0; no body at
// all for HEAD, 1xx, 204 and 304.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/codec.h"
#include "protocols/http1_common.h"
#include "protocols/limits.h"

namespace gw {

class Http1ServerCodec final : public ServerCodec {
 public:
  explicit Http1ServerCodec(const Limits& limits);

  FeedResult feed(std::string_view in, std::vector<Event>& events, std::string& out) override;
  void write_head(StreamId stream, const ResponseHead& head, std::string& out) override;
  void write_body(StreamId stream, std::string_view data, std::string& out) override;
  bool write_end(StreamId stream, std::string& out) override;
  bool peer_finished() const override { return !keep_alive_; }
  void close_after_current() override { closing_ = true; }
  bool write_abort(StreamId stream, std::string& out) override;
  uint64_t raw_body_allowance(StreamId stream) const override;
  uint64_t take_raw_body(StreamId stream, uint64_t n) override;

 private:
  enum class State : uint8_t {
    RequestLine,    // skipping empty lines, then the request line
    Fields,         // header fields up to the empty line
    Body,           // Content-Length body
    ChunkedBody,    // chunked body
    AwaitResponse,  // request complete, response not yet ended
    Closed,         // the connection will close after the response
    Failed,         // an error was reported
  };

  // What is known about the request being parsed.
  struct Head {
    Request request;
    bool http11 = false;
    bool is_head = false;
    bool absolute_form = false;
    std::string authority;  // from an absolute-form target
    size_t bytes = 0;       // head bytes so far, request line included
    size_t fields = 0;
    unsigned hosts = 0;
    std::optional<uint64_t> content_length;
    http1::TransferCoding coding;
    http1::ConnectionOptions connection;
    http1::Expectations expect;
  };

  // The response being written.
  struct Response {
    bool head_written = false;
    bool no_body = false;
    bool chunked = false;
    bool keep_alive = false;
    std::optional<uint64_t> remaining;  // Content-Length framing
  };

  // Each returns whether it made progress (and may go on).
  bool on_request_line(std::string_view in, size_t& used);
  bool on_field_line(std::string_view in, size_t& used, std::vector<Event>& events,
                     std::string& out);
  bool on_body(std::string_view in, size_t& used, std::vector<Event>& events);
  bool on_chunked_body(std::string_view in, size_t& used, std::vector<Event>& events);

  http1::Problem parse_request_line(std::string_view line);
  http1::Problem parse_target(std::string_view target);
  http1::Problem add_field(const http1::FieldLine& field);
  http1::Problem check_framing();
  void finish_head(std::vector<Event>& events, std::string& out);
  void end_body(std::vector<Event>& events);

  void fail(http1::Problem problem, std::string detail);
  void write_error_response(std::string& out);
  void finish_exchange(bool keep_alive);
  bool request_active() const;

  Limits limits_;
  State state_ = State::RequestLine;
  http1::LineReader lines_;
  http1::ChunkedDecoder chunked_;
  Head head_;
  bool keep_alive_ = false;  // the client allows another request after this one
  bool closing_ = false;     // close_after_current(): no response keeps the connection
  uint64_t body_remaining_ = 0;
  Response response_;
  std::optional<CodecError> error_;
  http1::Problem error_problem_;
  bool error_written_ = false;
};

}  // namespace gw
