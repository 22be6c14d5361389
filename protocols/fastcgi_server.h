// FastCGI 1.0, application side: the web server's records in, Request events
// out; responses as STDOUT records ending with END_REQUEST.
// docs: protocols.md section 1.
//
// Behaviour beyond codec.h:
//  * Several request ids may be active at once (multiplexing) up to
//    Limits::streams_per_connection; over it a new id gets
//    END_REQUEST{FCGI_OVERLOADED}. With multiplex=false a second id gets
//    END_REQUEST{FCGI_CANT_MPX_CONN} while one is active.
//  * Roles other than FCGI_RESPONDER get END_REQUEST{FCGI_UNKNOWN_ROLE}.
//  * A request whose params cannot be mapped (cgi_params) is answered by the
//    codec itself with a CGI error response ("Status: 400 Bad Request", or
//    413 for a CONTENT_LENGTH over Limits::max_body_bytes) and END_REQUEST;
//    no RequestStarted is emitted for it. If that request did not set
//    FCGI_KEEP_CONN, feed() then also reports the reason as an error, which
//    makes the caller close the connection as the spec requires.
//  * FCGI_ABORT_REQUEST for a started request gives StreamAborted; the caller
//    still calls write_end(), which ends the request properly. An empty
//    FCGI_STDIN before CONTENT_LENGTH bytes arrived is a client abort too.
//  * Records for ids that are not active are ignored (spec 1.3), so after
//    write_end() the rest of a request's STDIN is silently dropped.
//  * Responses carry a CGI head ("Status: 200 OK", never an HTTP status
//    line), no hop-by-hop headers and no body for HEAD requests. write_body
//    may grow the STDOUT record it appended last when that record is still
//    the tail of `out`, so a small head and body travel in one record.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <unordered_map>

#include "protocols/codec.h"
#include "protocols/fastcgi_wire.h"
#include "protocols/limits.h"

namespace gw {

class FastCgiServerCodec final : public ServerCodec {
 public:
  explicit FastCgiServerCodec(const Limits& limits, bool multiplex = true);

  FeedResult feed(std::string_view in, std::vector<Event>& events, std::string& out) override;
  void write_head(StreamId stream, const ResponseHead& head, std::string& out) override;
  void write_body(StreamId stream, std::string_view data, std::string& out) override;
  bool write_end(StreamId stream, std::string& out) override;
  bool peer_finished() const override { return peer_finished_; }
  bool write_abort(StreamId stream, std::string& out) override;

  // Request ids currently active (between BEGIN_REQUEST and our END_REQUEST).
  size_t active_streams() const { return streams_.size(); }

 private:
  enum class Phase : uint8_t { Params, Stdin, StdinDone, Aborted };
  struct Stream {
    bool keep_conn = false;
    bool head_only = false;  // HEAD: the response body is not sent
    Phase phase = Phase::Params;
    std::optional<fcgi::PairDecoder> params;  // while phase == Params
    std::vector<Header> vars;
    std::optional<uint64_t> content_length;
    uint64_t body_bytes = 0;
  };
  // What the current record's content is for.
  enum class Sink : uint8_t { Skip, Buffer, Params, Stdin };
  // What happens once the current record's content is complete.
  enum class Action : uint8_t { None, Management, Begin, Abort, ParamsEnd, StdinEnd };
  // The STDOUT record write_body may still grow (see the header comment).
  struct OpenRecord {
    const std::string* buf = nullptr;
    size_t start = 0;
    StreamId id = 0;
  };

  std::optional<CodecError> on_header(const fcgi::RecordHeader& header);
  std::optional<CodecError> on_app_header(Stream& s);
  std::optional<CodecError> check_body_bound(const Stream& s) const;
  std::optional<CodecError> on_content(std::string_view data, std::vector<Event>& events,
                                       std::string& out);
  std::optional<CodecError> on_record_end(std::vector<Event>& events, std::string& out);
  std::optional<CodecError> on_management(std::string& out);
  std::optional<CodecError> on_begin(std::string& out);
  std::optional<CodecError> on_abort(Stream& s, std::vector<Event>& events, std::string& out);
  std::optional<CodecError> on_params_end(Stream& s, std::vector<Event>& events, std::string& out);
  void on_stdin_end(Stream& s, std::vector<Event>& events);
  std::optional<CodecError> reject(StreamId id, const CodecError& why, std::string& out);
  CodecError protocol_error(std::string what) const;

  void append_stdout(StreamId id, std::string_view data, std::string& out);
  bool can_extend(StreamId id, const std::string& out) const;
  void append_end(StreamId id, uint32_t app_status, std::string& out);

  Limits limits_;
  bool multiplex_;
  std::unordered_map<StreamId, Stream> streams_;

  fcgi::RecordFramer framer_;
  fcgi::RecordHeader record_;
  Sink sink_ = Sink::Skip;
  Action action_ = Action::None;
  std::string record_buf_;  // content of a discrete record, at most 65535 bytes

  OpenRecord open_;
  std::optional<CodecError> error_;
  // The last request that ended the connection had no FCGI_KEEP_CONN: the
  // web server sends nothing more and waits for the close.
  bool peer_finished_ = false;
  std::vector<CodecError> refused_;  // for this feed()'s FeedResult::refused
};

}  // namespace gw
