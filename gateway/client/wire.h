// The per-protocol adapters of gatewayd-client, pure like the codecs they
// wrap (bytes in, events out; no sockets, no clock):
//  * RequestEncoder: the bytes of one request, built once from a
//    RequestPlan (one-request mode streams the body through it; --bench
//    pre-encodes the whole request with it).
//  * ResponseReader: one connection's responses, checked against the
//    protocol the way a strict web server would, with errors that name the
//    protocol step ("FastCGI: the app closed the connection before
//    END_REQUEST after 120 bytes of STDOUT").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/client/errors.h"
#include "gateway/client/request_plan.h"
#include "protocols/request.h"

namespace gw::client {

// What a ResponseReader found, in order. on_end comes once and last.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // head.status 0 is a CGI local redirect to `local_redirect` (FastCGI, SCGI).
  virtual void on_head(const ResponseHead& head,
                       const std::optional<std::string>& local_redirect) = 0;
  virtual void on_body(std::string_view data) = 0;
  // The response is complete; `reusable`: the connection may carry another
  // request (it was asked for, and the peer agreed).
  virtual void on_end(bool reusable) = 0;
  virtual void on_app_stderr(std::string_view /*data*/) {}  // FCGI_STDERR content
  virtual void on_body_wanted(size_t /*max_bytes*/) {}      // AJP GET_BODY_CHUNK
  // Only when the reader traces (-v): one protocol event, without "< ".
  virtual void on_trace(std::string_view /*line*/) {}
  // Allowed by the protocol's practice but not as it should be.
  virtual void on_warning(std::string_view /*line*/) {}
};

struct ReadResult {
  size_t consumed = 0;
  std::optional<ClientError> error;  // final for the connection
};

class ResponseReader {
 public:
  virtual ~ResponseReader() = default;

  // A fresh connection: drop the framing state of the previous one.
  virtual void new_connection() = 0;
  // A request went out: read its response.
  virtual void start() = 0;
  // Same contract as the codecs' feed(): input split at any byte; returns
  // what was used and the caller offers the rest again with the next bytes
  // (a partial packet or head line stays outside, bounded by the limits).
  // Nothing after the end of the response is consumed.
  virtual ReadResult feed(std::string_view in, ResponseSink& sink) = 0;
  // The peer closed its side. Ends a response that ends that way (SCGI, a
  // close-delimited HTTP body); otherwise an error, unless it had ended.
  virtual std::optional<ClientError> finish_eof(ResponseSink& sink) = 0;
  virtual bool ended() const = 0;
  // What the response still waits for, for timeout and reset messages:
  // "END_REQUEST (120 bytes of STDOUT so far)".
  virtual std::string waiting_for() const = 0;
};

struct ReaderOptions {
  Protocol protocol = Protocol::Http;
  std::string method = "GET";  // HEAD responses have no body
  bool keep_conn = false;      // the request asked to keep the connection
  size_t ajp_packet_size = 8192;
  bool trace = false;  // report protocol events through on_trace
};

std::unique_ptr<ResponseReader> make_reader(const ReaderOptions& options);

class RequestEncoder {
 public:
  virtual ~RequestEncoder() = default;

  // Everything sent before the body (for AJP, the FORWARD_REQUEST only).
  const std::string& head() const { return head_; }
  // What -v shows of the head, one line each, without "> ".
  virtual void describe(std::vector<std::string>& lines) const = 0;
  // AJP: the first body packet goes out unasked when the length is known
  // and not 0; every later one only for a GET_BODY_CHUNK.
  virtual bool body_on_request() const { return false; }
  // The most body bytes one encode_body() call takes.
  virtual size_t max_body_piece() const { return 64 * 1024; }
  virtual void encode_body(std::string& out, std::string_view data) const = 0;
  // What ends the body: FastCGI's empty STDIN record, HTTP's last chunk (a
  // chunked body), AJP's empty packet (also the answer to GET_BODY_CHUNK
  // once the body is all sent); nothing for SCGI.
  virtual void encode_body_end(std::string& out) const = 0;

 protected:
  std::string head_;
};

// nullptr, with `error` saying why, when the request cannot be encoded (it
// does not fit in one AJP packet, ...).
std::unique_ptr<RequestEncoder> make_encoder(const RequestPlan& plan, std::string& error);

// The protocols' adapters, behind make_encoder() and make_reader().
std::unique_ptr<RequestEncoder> make_fastcgi_encoder(const RequestPlan& plan);
std::unique_ptr<ResponseReader> make_fastcgi_reader(const ReaderOptions& options);
std::unique_ptr<RequestEncoder> make_scgi_encoder(const RequestPlan& plan, std::string& error);
std::unique_ptr<ResponseReader> make_scgi_reader(const ReaderOptions& options);
std::unique_ptr<RequestEncoder> make_ajp_encoder(const RequestPlan& plan, std::string& error);
std::unique_ptr<ResponseReader> make_ajp_reader(const ReaderOptions& options);
std::unique_ptr<RequestEncoder> make_http_encoder(const RequestPlan& plan, std::string& error);
std::unique_ptr<ResponseReader> make_http_reader(const ReaderOptions& options);

// A value for -v lines and error messages: quoted, non-printable bytes as
// \xNN, at most `max` bytes.
std::string shown(std::string_view value, size_t max = 4096);
// The same without the quotes, for header lines: "Name: value".
std::string escaped(std::string_view value, size_t max = 4096);

}  // namespace gw::client
