// AJP13, web-server side (the mod_jk role): encoders for what a web server
// sends (FORWARD_REQUEST, body packets, CPING) and a decoder for what a
// container answers (SEND_HEADERS, SEND_BODY_CHUNK, GET_BODY_CHUNK,
// END_RESPONSE, CPONG). Used by tests, tools and an AJP backend.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/ajp13_wire.h"
#include "protocols/codec.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw {
namespace ajp {

struct ForwardRequest {
  std::string method = "GET";  // coded when AJP has a code, else 0xFF + stored_method
  // Overrides the code derived from `method` (and suppresses stored_method
  // unless `stored_method` is set): for peers and tests that send odd codes.
  std::optional<uint8_t> method_code;
  std::optional<std::string> stored_method;  // with method_code: sent as given
  std::string protocol = "HTTP/1.1";
  std::string req_uri = "/";  // percent-encoded path, no query
  std::string remote_addr = "127.0.0.1";
  std::optional<std::string> remote_host;  // null when absent, as mod_jk sends it
  std::string server_name = "localhost";
  uint16_t server_port = 80;
  bool is_ssl = false;
  std::vector<Header> headers;  // names coded where AJP has a code
  // Attributes, written in mod_jk's order (context and servlet_path, which
  // no real client sends, first).
  std::optional<std::string> context, servlet_path;
  std::optional<std::string> secret, remote_user, auth_type, query_string, route;
  std::optional<std::string> ssl_cert, ssl_cipher, ssl_session;
  std::optional<uint16_t> ssl_key_size;
  std::vector<Header> attributes;  // req_attribute name/value pairs, in order
};

// The FORWARD_REQUEST packet. Returns false and appends nothing when it does
// not fit in one packet of `packet_size` bytes or a value cannot be encoded
// (a string of 0xFFFF bytes or more, a header name of 0xA000 bytes or more).
bool encode_forward_request(std::string& out, const ForwardRequest& req,
                            size_t packet_size = kDefaultPacketSize);

// A request body packet: 12 34, n + 2, n, data. Returns false (appends
// nothing) when data is longer than packet_size - 6.
bool encode_body_packet(std::string& out, std::string_view data,
                        size_t packet_size = kDefaultPacketSize);

// The empty body packet that ends a body of unknown length (or, before a
// known length was reached, tells of a client abort).
enum class BodyEndForm : uint8_t {
  Empty,      // 12 34 00 00 (mod_jk)
  ZeroChunk,  // 12 34 00 02 00 00 (mod_proxy_ajp)
};
void encode_body_end(std::string& out, BodyEndForm form);

// CPING: 12 34 00 01 0A.
void encode_cping(std::string& out);

// The FORWARD_REQUEST for a Request, as an AJP backend sends it: req_uri is
// the path part of the raw target, query_string the rest; the body framing
// is put in the headers the AJP way (Content-Length for a known length, none
// and "Transfer-Encoding: chunked" for an unknown one); remote_port,
// server_addr and ssl_protocol go out as AJP_REMOTE_PORT, AJP_LOCAL_ADDR and
// AJP_SSL_PROTOCOL, the TLS facts, route, remote_user and auth_type as their
// attributes. Hop-by-hop headers are not forwarded.
ForwardRequest forward_request_for(const Request& request);

struct SendHeaders {
  ResponseHead head;
};
struct SendBodyChunk {
  std::string_view data;  // view into feed()'s input; empty: flush
};
struct GetBodyChunk {
  uint16_t requested;
};
struct EndResponse {
  bool reuse;
};
struct CPong {};
using ClientEvent = std::variant<SendHeaders, SendBodyChunk, GetBodyChunk, EndResponse, CPong>;

}  // namespace ajp

// Decodes a container's packets. Same contract as ServerCodec::feed: any
// split; a packet is consumed only when it is complete (at most the packet
// size is left unconsumed); an error (bad magic "AB", a packet over the
// packet size, a type a container must not send, a malformed message) is
// final and carries http_status 502. Per-request sequencing (headers before
// body, one END_RESPONSE) is the caller's to check.
class AjpClientDecoder {
 public:
  explicit AjpClientDecoder(const Limits& limits = Limits{});

  FeedResult feed(std::string_view in, std::vector<ajp::ClientEvent>& events);

  size_t packet_size() const { return packet_size_; }

 private:
  std::optional<CodecError> on_packet(std::string_view payload,
                                      std::vector<ajp::ClientEvent>& events) const;
  std::optional<CodecError> on_send_headers(ajp::Reader& reader,
                                            std::vector<ajp::ClientEvent>& events) const;

  Limits limits_;
  size_t packet_size_;
  std::optional<CodecError> error_;
};

}  // namespace gw
