// AJP13, container side (the Tomcat role): the web server's packets in
// (Apache mod_jk, mod_proxy_ajp, IIS isapi_redirect), Request events out;
// responses as SEND_HEADERS / SEND_BODY_CHUNK / END_RESPONSE.
//
// Behaviour beyond codec.h:
//  * One request at a time (stream id 1). Between requests a packet must be
//    a FORWARD_REQUEST or a CPING (answered with a CPONG in `out`); an empty
//    packet (12 34 00 00, which lighttpd's mod_ajp13 sends after every
//    bodiless request) is skipped. SHUTDOWN, PING, any other type, a bad
//    magic or a packet over the packet size (checked from the 4-byte header,
//    before anything is buffered) is an error that closes the connection.
//  * A FORWARD_REQUEST is parsed whole; every read is bounded by the packet.
//    If it is malformed or breaks a limit, feed() appends SEND_HEADERS with
//    the error status (400; 413 for a Content-Length over max_body_bytes;
//    431 for header limits) and END_RESPONSE(reuse=0), and fails.
//  * Request mapping: target = req_uri + "?" + query_string (when sent);
//    path = req_uri percent-decoded once and not resolved (a malformed
//    escape, %00, '?' in req_uri or a path not starting with '/' is a 400;
//    the router refuses dot segments and "//", as for every front end);
//    script_name "" and path_info = path; coded header names get their HTTP
//    spelling. content_length: the Content-Length header; unknown when there
//    is none but a Transfer-Encoding header (the web server de-chunks and
//    sends the body on request); 0 when neither is sent (mod_proxy_ajp's
//    bodiless requests). Both headers, or two Content-Lengths: 400.
//  * Security (Ghostcat): with AjpOptions::secret set, a missing or wrong
//    secret attribute, and any req_attribute name not on the allowlist
//    (AJP_REMOTE_PORT, AJP_LOCAL_ADDR, AJP_SSL_PROTOCOL, JK_LB_ACTIVATION
//    and AjpOptions::allowed_attributes, exact names) make the request
//    refused: RequestStarted carries reject_status 403 and reject_reason;
//    its body is still read exactly. write_end for a refused request sends
//    END_RESPONSE(reuse=0) and returns false, so the connection closes (as
//    Tomcat does). No attribute changes target, path, script_name or
//    path_info.
//  * Body flow: with Content-Length > 0 the first body packet comes
//    unasked; later ones only after a GET_BODY_CHUNK, which want_body()
//    appends when the body is incomplete, no packet is awaited and the last
//    one was fully handed out. While no packet is awaited feed() consumes
//    nothing. A body packet's chunk length must equal its packet length - 2
//    (lighttpd's packets without one fail); data over Content-Length or an
//    empty packet before it (a client abort) is an error; an unknown length
//    ends at an empty packet in either form (12 34 00 00 or 12 34 00 02
//    00 00).
//  * If the response ends while a body packet is still awaited (the
//    unsolicited first one, or one asked for), that packet is read and
//    discarded before anything else is parsed: it is never taken for a new
//    request.
//  * Errors while a request is active append SEND_HEADERS + END_RESPONSE
//    (reuse=0) when no response head was written yet; after that, nothing:
//    the closed connection tells the web server the response is cut.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/ajp13_wire.h"
#include "protocols/codec.h"
#include "protocols/limits.h"

namespace gw {

struct AjpOptions {
  std::optional<std::string> secret;            // required secret; nullopt: none required
  std::vector<std::string> allowed_attributes;  // extra req_attribute (0x0A) names allowed
};

class AjpServerCodec final : public ServerCodec {
 public:
  // Packet size = limits.ajp_packet_size, clamped to 8192..65536.
  AjpServerCodec(const Limits& limits, AjpOptions options);

  FeedResult feed(std::string_view in, std::vector<Event>& events, std::string& out) override;
  void write_head(StreamId stream, const ResponseHead& head, std::string& out) override;
  void write_body(StreamId stream, std::string_view data, std::string& out) override;
  bool write_end(StreamId stream, std::string& out) override;
  bool write_abort(StreamId stream, std::string& out) override;
  void want_body(StreamId stream, std::string& out) override;

  size_t packet_size() const { return packet_size_; }

 private:
  enum class State : uint8_t {
    Idle,      // between requests
    Request,   // a request is active (body and/or response under way)
    Draining,  // response done; one awaited body packet still to discard
    Closed,    // write_abort, or write_end that does not keep the connection
    Failed,
  };
  // The outcome of one parsing step: wait for more input, go on, or stop
  // (waiting for want_body/write_end, or failed).
  enum class Step : uint8_t { NeedMore, Progress, Stop };

  Step on_idle(std::string_view in, size_t& used, std::vector<Event>& events, std::string& out);
  Step on_body(std::string_view in, size_t& used, std::vector<Event>& events, std::string& out);
  Step on_body_header(std::string_view in, size_t& used, std::vector<Event>& events,
                      std::string& out);
  void on_packet_done(std::vector<Event>& events);
  void on_empty_body_packet(std::vector<Event>& events, std::string& out);
  void on_forward_request(std::string_view payload, std::vector<Event>& events, std::string& out);
  void end_body(std::vector<Event>& events);
  void finish_exchange();
  void fail(int status, std::string what, std::string& out);
  bool response_open() const;

  Limits limits_;
  AjpOptions options_;
  size_t packet_size_;
  State state_ = State::Idle;
  std::optional<CodecError> error_;

  // The active request.
  std::optional<uint64_t> content_length_;
  uint64_t body_received_ = 0;
  bool body_complete_ = false;
  bool packet_awaited_ = false;  // the unsolicited first packet, or one asked for
  size_t packet_left_ = 0;       // data bytes of the current body packet still to come
  bool head_only_ = false;       // HEAD: no response body
  bool rejected_ = false;

  // The response.
  bool head_written_ = false;
  bool no_body_ = false;
};

}  // namespace gw
