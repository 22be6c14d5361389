// The server-side codec interface shared by every front-end protocol.
//
// A codec is pure: bytes in, events out; response parts in, bytes out. No
// sockets, no clock, no logging. The Connection (gateway/connection.cpp) owns
// one codec and moves bytes between it and the socket.
//
// Contract (every codec keeps it; tests/unit check it):
//  * feed() may be called with input split at any byte. It returns how many
//    bytes of `in` it consumed; the caller drops those and calls feed() again
//    with the rest plus new bytes. A codec may leave a partial unit (a record
//    header, a request head) unconsumed, but never more than Limits allows:
//    when `in` is as large as the limit and nothing can be consumed it
//    reports an error instead.
//  * Request body bytes are emitted as they arrive (BodyData), never held back
//    until a whole record is in. BodyData views point into `in` and are valid
//    only until the caller changes its input buffer.
//  * Replies the protocol makes on its own (FCGI_GET_VALUES_RESULT,
//    FCGI_UNKNOWN_TYPE, END_REQUEST with FCGI_UNKNOWN_ROLE, HTTP
//    "100 Continue", AJP CPong) are appended to `out` by feed().
//  * After an error no further events are produced; the caller writes `out`
//    (which may hold the protocol's error answer, e.g. an HTTP 400) and
//    closes the connection.
//  * Codecs that serve one request at a time (HTTP/1.1, SCGI, AJP13) stop
//    consuming at the end of a request until write_end() (or write_abort())
//    for it; the caller then calls feed() again with the unconsumed bytes.
//    That is how pipelined requests wait their turn.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/request.h"

namespace gw {

using StreamId = uint16_t;  // FastCGI request id; 1 for the other protocols

struct RequestStarted {
  StreamId stream;
  Request request;
  // Non-zero: the codec parsed the request but refuses it (AJP: wrong secret,
  // an attribute not on the allowlist). The Connection answers this status
  // itself, never routes the request, and logs reject_reason; the body (if
  // any) still arrives as BodyData/BodyEnd so that the byte count stays exact.
  int reject_status = 0;
  std::string reject_reason;
};
struct BodyData {
  StreamId stream;
  std::string_view data;  // view into feed()'s input
};
struct BodyEnd {
  StreamId stream;
};
struct StreamAborted {  // the front end gave up on this request (FCGI_ABORT_REQUEST)
  StreamId stream;
};
using Event = std::variant<RequestStarted, BodyData, BodyEnd, StreamAborted>;

struct CodecError {
  int http_status = 400;  // what an HTTP client is told (400, 413, 414, 431, 501, 505)
  std::string what;       // precise reason for the error log: field and value
};

struct FeedResult {
  size_t consumed = 0;
  std::optional<CodecError> error;  // fatal for the connection
  // Requests the codec answered itself while the connection lives on
  // (FastCGI with FCGI_KEEP_CONN: a 413 or 431 over a limit, FCGI_OVERLOADED
  // past limits.streams_per_connection): for the error log only.
  std::vector<CodecError> refused;
};

class ServerCodec {
 public:
  virtual ~ServerCodec() = default;

  virtual FeedResult feed(std::string_view in, std::vector<Event>& events, std::string& out) = 0;

  // Response for one stream: write_head once, write_body any number of times,
  // then write_end. write_end returns whether the connection may carry further
  // requests (false: FastCGI without FCGI_KEEP_CONN, HTTP "Connection: close",
  // HTTP/1.0 without keep-alive, SCGI always). The codec owns the framing:
  // Content-Length vs chunked, HEAD without a body, STDOUT records, ...
  virtual void write_head(StreamId stream, const ResponseHead& head, std::string& out) = 0;
  virtual void write_body(StreamId stream, std::string_view data, std::string& out) = 0;
  virtual bool write_end(StreamId stream, std::string& out) = 0;

  // The response cannot be completed after its head was written (the backend
  // died mid-body). Writes whatever tells the front end the response is cut
  // and returns whether the connection survives (by default it does not: the
  // caller closes it, which every front end reads as a truncated response).
  virtual bool write_abort(StreamId /*stream*/, std::string& /*out*/) { return false; }

  // After write_end() or write_abort() returned false: whether the peer has
  // said it sends nothing more on this connection (SCGI: one request per
  // connection; FastCGI: a request without FCGI_KEEP_CONN; HTTP: "Connection:
  // close", or 1.0 without keep-alive). A connection whose input was read
  // whole may then close at once; otherwise it closes lingering, so that a
  // reset cannot overtake the answer.
  virtual bool peer_finished() const { return false; }

  // The connection closes once the requests in flight are answered (a
  // graceful stop or reload). A protocol that can tell the client says so in
  // the responses still to come, so that it sends its next request to the new
  // process instead of on a connection about to close: HTTP answers with
  // "Connection: close" and write_end() returns false. FastCGI, SCGI and
  // AJP13 have no such word.
  virtual void close_after_current() {}

  // Whether a client that half-closes its side after a whole request still
  // waits for the answer. SCGI delimits the response by the close, so a
  // client may shut down its sending side once the request is out; in the
  // other protocols (and with nginx, Apache and mod_jk, which close rather
  // than half-close) an end of input means the client gave up.
  virtual bool answers_after_half_close() const { return false; }

  // The request body is consumed by the backend and more may be read.
  // AJP13 answers it with GET_BODY_CHUNK; others ignore it.
  virtual void want_body(StreamId /*stream*/, std::string& /*out*/) {}

  // Body bytes the caller may send to the transport itself, past write_body
  // (sendfile(2) from a file), because the framing leaves them as they are:
  // what remains of an HTTP/1.1 Content-Length body. 0 when every byte has
  // to go through write_body (FastCGI, SCGI, AJP13 frame each piece;
  // chunked; HEAD, 204, 304). Meaningful once write_head was called.
  virtual uint64_t raw_body_allowance(StreamId /*stream*/) const { return 0; }
  // The caller sends `n` body bytes itself: counted as write_body counts
  // them. Returns how many of them the framing takes (at most the
  // allowance; an excess ends the connection after this response).
  virtual uint64_t take_raw_body(StreamId /*stream*/, uint64_t /*n*/) { return 0; }
};

}  // namespace gw
