// AJP13 container side: packet framing, FORWARD_REQUEST parsing and mapping,
// the body flow, and the response writers.
//
// Why byte counts must be exact: AJP connections are pooled. A body packet
// left unread, or data read past Content-Length, would be parsed as the start
// of the next request on this connection, so a client could smuggle a request
// in through its body. Hence: an awaited body packet is always read (even
// after the response ended), a chunk length must match its packet, and any
// doubt about where a packet ends closes the connection.
#include "protocols/ajp13_server.h"

#include <algorithm>
#include <utility>

#include "protocols/cgi_params.h"
#include "protocols/http1_common.h"
#include "protocols/path.h"

namespace gw {

namespace {

constexpr StreamId kStream = 1;

std::string hex16(uint16_t v) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string s = "0x";
  for (int shift = 12; shift >= 0; shift -= 4) s.push_back(kHex[(v >> shift) & 0xF]);
  return s;
}

uint16_t integer_at(std::string_view in, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(in[at]) << 8 |
                               static_cast<uint8_t>(in[at + 1]));
}

// Compares a secret in time that depends only on the configured secret's
// length: every byte of `expected` is compared, whatever `given` holds or how
// long it is, and nothing returns early (a length mismatch only sets a bit).
bool secret_matches(std::string_view expected, std::string_view given) {
  volatile uint8_t diff = expected.size() == given.size() ? 0 : 1;
  const size_t n = given.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    uint8_t g = n == 0 ? 0 : static_cast<uint8_t>(given[i % n]);
    diff = static_cast<uint8_t>(diff | (static_cast<uint8_t>(expected[i]) ^ g));
  }
  return diff == 0;
}

// A request line's pieces must not carry anything a later hop could read as
// a line break or a field end.
bool is_single_line(std::string_view s) {
  return http1::is_field_value(s);
}

bool is_target_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return http1::is_target_char(c); });
}

struct Problem {
  int status = 400;
  std::string what;
};

struct Parsed {
  Request request;
  int reject_status = 0;
  std::string reject_reason;
};

// Reads one FORWARD_REQUEST payload (type byte included) into a Request.
// Structural and semantic problems come back as a Problem (the connection
// closes); policy refusals (secret, attribute allowlist) as reject_status.
class ForwardParser {
 public:
  ForwardParser(const Limits& limits, const AjpOptions& options, std::string_view payload)
      : limits_(limits), options_(options), reader_(payload) {}

  std::optional<Problem> parse(Parsed& out);

 private:
  std::optional<Problem> read_string(std::string_view field, std::optional<std::string>& value,
                                     bool multiline = false);
  std::optional<Problem> read_required(std::string_view field, std::string& value);
  std::optional<Problem> read_headers();
  std::optional<Problem> read_header();
  std::optional<Problem> read_attributes();
  std::optional<Problem> read_attribute(uint8_t code);
  std::optional<Problem> read_req_attribute();
  std::optional<Problem> set_once(uint8_t code, std::optional<std::string>& slot);
  std::optional<Problem> map_method();
  std::optional<Problem> map_target();
  std::optional<Problem> map_body_length();
  void map_attributes();
  void check_policy(Parsed& out) const;

  const Limits& limits_;
  const AjpOptions& options_;
  ajp::Reader reader_;
  Request req_;

  uint8_t method_code_ = 0;
  std::string req_uri_;
  std::optional<std::string> remote_host_;
  uint64_t header_bytes_ = 0;
  size_t req_attribute_count_ = 0;

  std::optional<std::string> query_string_, remote_user_, auth_type_, route_, ssl_cert_,
      ssl_cipher_, ssl_session_, secret_, stored_method_;
  std::optional<uint16_t> ssl_key_size_;
  std::optional<std::string> remote_port_, local_addr_, ssl_protocol_;
  std::vector<Header> extra_attributes_;  // other req_attributes, in order
  std::optional<std::string> first_disallowed_;
  int content_length_headers_ = 0;
  std::optional<uint64_t> content_length_;
  bool transfer_encoding_ = false;
};

std::optional<Problem> ForwardParser::read_string(std::string_view field,
                                                  std::optional<std::string>& value,
                                                  bool multiline) {
  std::string_view v;
  ajp::Reader::StringStatus status = reader_.string(v);
  if (status == ajp::Reader::StringStatus::Null) {
    value.reset();
    return std::nullopt;
  }
  if (status != ajp::Reader::StringStatus::Ok) {
    return Problem{400, "FORWARD_REQUEST " + std::string(field) + ": " +
                            std::string(ajp::describe(status)) + " at offset " +
                            std::to_string(reader_.pos())};
  }
  // Real clients compute lengths with strlen(): an inner NUL is forged, and
  // would cut the value short for anything downstream that is C.
  bool ok = v.find('\0') == std::string_view::npos && (multiline || is_single_line(v));
  if (!ok) {
    return Problem{400, "FORWARD_REQUEST " + std::string(field) +
                            " holds a control character: " + quote_for_log(v)};
  }
  value = std::string(v);
  return std::nullopt;
}

std::optional<Problem> ForwardParser::read_required(std::string_view field, std::string& value) {
  std::optional<std::string> v;
  if (auto p = read_string(field, v)) return p;
  if (!v) return Problem{400, "FORWARD_REQUEST " + std::string(field) + " is a null string"};
  value = std::move(*v);
  return std::nullopt;
}

std::optional<Problem> ForwardParser::parse(Parsed& out) {
  reader_.byte();  // the type byte, checked by the caller
  std::optional<uint8_t> method = reader_.byte();
  if (!method) return Problem{400, "FORWARD_REQUEST ends before the method code"};
  method_code_ = *method;
  if (auto p = read_required("protocol", req_.server_protocol)) return p;
  if (auto p = read_required("req_uri", req_uri_)) return p;
  std::optional<std::string> remote_addr, server_name;
  if (auto p = read_string("remote_addr", remote_addr)) return p;
  if (auto p = read_string("remote_host", remote_host_)) return p;
  if (auto p = read_string("server_name", server_name)) return p;
  req_.remote_addr = remote_addr.value_or("");
  req_.server_name = server_name.value_or("");
  std::optional<uint16_t> port = reader_.integer();
  std::optional<uint8_t> is_ssl = reader_.byte();
  if (!port || !is_ssl) return Problem{400, "FORWARD_REQUEST ends before is_ssl"};
  req_.server_port = *port;
  req_.https = *is_ssl != 0;
  if (auto p = read_headers()) return p;
  if (auto p = read_attributes()) return p;
  if (auto p = map_method()) return p;
  if (auto p = map_target()) return p;
  if (auto p = map_body_length()) return p;
  map_attributes();
  req_.origin = Protocol::Ajp13;
  check_policy(out);
  out.request = std::move(req_);
  return std::nullopt;
}

std::optional<Problem> ForwardParser::read_headers() {
  std::optional<uint16_t> count = reader_.integer();
  if (!count) return Problem{400, "FORWARD_REQUEST ends before num_headers"};
  if (*count > limits_.header_count) {
    return Problem{431, "FORWARD_REQUEST has " + std::to_string(*count) + " headers, more than " +
                            std::to_string(limits_.header_count) + " (limits.header_count)"};
  }
  req_.headers.reserve(*count);
  for (uint16_t i = 0; i < *count; ++i) {
    if (auto p = read_header()) return p;
  }
  return std::nullopt;
}

std::optional<Problem> ForwardParser::read_header() {
  std::optional<uint16_t> peek = reader_.peek_integer();
  if (!peek) return Problem{400, "FORWARD_REQUEST ends inside its headers"};
  std::string name;
  if ((*peek & ajp::kCodedNameMask) == ajp::kCodedNamePrefix) {
    reader_.integer();
    std::string_view coded = ajp::request_header_name(*peek);
    if (coded.empty()) return Problem{400, "invalid request header code " + hex16(*peek)};
    name = std::string(coded);
  } else {
    std::optional<std::string> plain;
    if (auto p = read_string("header name", plain)) return p;
    if (!plain) return Problem{400, "null request header name"};
    if (!http1::is_token(*plain)) {
      return Problem{400, "request header name is not a token: " + quote_for_log(*plain)};
    }
    name = std::move(*plain);
  }
  std::optional<std::string> value;
  if (auto p = read_string("value of " + name, value)) return p;
  if (!value) return Problem{400, "null value for request header " + name};
  if (name.size() > limits_.name_bytes) {
    return Problem{431, "request header name over " + std::to_string(limits_.name_bytes) +
                            " bytes (limits.name_bytes): " + quote_for_log(name)};
  }
  if (value->size() > limits_.value_bytes) {
    return Problem{431, "request header " + name + " over " + std::to_string(limits_.value_bytes) +
                            " bytes (limits.value_bytes)"};
  }
  header_bytes_ += name.size() + value->size();
  if (header_bytes_ > limits_.header_bytes) {
    return Problem{431, "request headers over " + std::to_string(limits_.header_bytes) +
                            " bytes (limits.header_bytes)"};
  }
  if (iequals(name, "Content-Length")) {
    // Two of them is the classic smuggling shape, even when they agree.
    if (++content_length_headers_ > 1) return Problem{400, "duplicate Content-Length"};
    content_length_ = http1::parse_decimal(*value);
    if (!content_length_) return Problem{400, "bad Content-Length: " + quote_for_log(*value)};
  } else if (iequals(name, "Transfer-Encoding")) {
    transfer_encoding_ = true;
  }
  req_.headers.push_back({std::move(name), std::move(*value)});
  return std::nullopt;
}

std::optional<Problem> ForwardParser::read_attributes() {
  for (;;) {
    std::optional<uint8_t> code = reader_.byte();
    if (!code) return Problem{400, "FORWARD_REQUEST ends without the attribute terminator 0xFF"};
    if (*code == ajp::kAttrAreDone) break;
    if (auto p = read_attribute(*code)) return p;
  }
  if (!reader_.at_end()) {
    return Problem{400, std::to_string(reader_.remaining()) +
                            " bytes after the attribute terminator of FORWARD_REQUEST"};
  }
  return std::nullopt;
}

std::optional<Problem> ForwardParser::set_once(uint8_t code, std::optional<std::string>& slot) {
  std::string_view name = ajp::attribute_name(code);
  std::optional<std::string> value;
  // A client certificate is PEM: several lines.
  if (auto p = read_string(name, value, code == ajp::kAttrSslCert)) return p;
  if (!value) return Problem{400, "null string in attribute " + std::string(name)};
  if (slot) return Problem{400, "duplicate attribute " + std::string(name)};
  if (value->size() > limits_.value_bytes) {
    return Problem{431, "attribute " + std::string(name) + " over " +
                            std::to_string(limits_.value_bytes) + " bytes (limits.value_bytes)"};
  }
  slot = std::move(value);
  return std::nullopt;
}

std::optional<Problem> ForwardParser::read_attribute(uint8_t code) {
  switch (code) {
    case ajp::kAttrContext:
    case ajp::kAttrServletPath: {
      // Unused by every sender; read and ignored, never mapped to a path.
      std::optional<std::string> ignored;
      return read_string(ajp::attribute_name(code), ignored);
    }
    case ajp::kAttrRemoteUser:
      return set_once(code, remote_user_);
    case ajp::kAttrAuthType:
      return set_once(code, auth_type_);
    case ajp::kAttrQueryString:
      return set_once(code, query_string_);
    case ajp::kAttrRoute:
      return set_once(code, route_);
    case ajp::kAttrSslCert:
      return set_once(code, ssl_cert_);
    case ajp::kAttrSslCipher:
      return set_once(code, ssl_cipher_);
    case ajp::kAttrSslSession:
      return set_once(code, ssl_session_);
    case ajp::kAttrSecret:
      return set_once(code, secret_);
    case ajp::kAttrStoredMethod:
      return set_once(code, stored_method_);
    case ajp::kAttrSslKeySize: {
      // A 2-byte integer, as mod_jk, mod_proxy_ajp and Tomcat have it.
      std::optional<uint16_t> bits = reader_.integer();
      if (!bits) return Problem{400, "FORWARD_REQUEST ends inside ssl_key_size"};
      if (ssl_key_size_) return Problem{400, "duplicate attribute ssl_key_size"};
      ssl_key_size_ = bits;
      return std::nullopt;
    }
    case ajp::kAttrReqAttribute:
      return read_req_attribute();
    default:
      // There is no length to skip an unknown attribute by.
      return Problem{400, "unknown attribute code " + std::to_string(code) + " at offset " +
                              std::to_string(reader_.pos() - 1)};
  }
}

std::optional<Problem> ForwardParser::read_req_attribute() {
  std::optional<std::string> name, value;
  if (auto p = read_string("req_attribute name", name)) return p;
  if (!name) return Problem{400, "null req_attribute name"};
  if (auto p = read_string("value of req_attribute " + *name, value)) return p;
  if (!value) return Problem{400, "null value for req_attribute " + quote_for_log(*name)};
  if (++req_attribute_count_ > limits_.header_count) {
    return Problem{431, "more than " + std::to_string(limits_.header_count) +
                            " req_attributes (limits.header_count)"};
  }
  if (name->size() > limits_.name_bytes || value->size() > limits_.value_bytes) {
    return Problem{
        431, "req_attribute over limits.name_bytes or limits.value_bytes: " + quote_for_log(*name)};
  }
  header_bytes_ += name->size() + value->size();
  if (header_bytes_ > limits_.header_bytes) {
    return Problem{431, "request headers and attributes over " +
                            std::to_string(limits_.header_bytes) + " bytes (limits.header_bytes)"};
  }
  std::optional<std::string>* slot = nullptr;
  if (*name == ajp::kRemotePortAttribute) {
    slot = &remote_port_;
  } else if (*name == ajp::kLocalAddrAttribute) {
    slot = &local_addr_;
  } else if (*name == ajp::kSslProtocolAttribute) {
    slot = &ssl_protocol_;
  }
  if (slot) {
    if (*slot) return Problem{400, "duplicate req_attribute " + *name};
    *slot = std::move(value);
    return std::nullopt;
  }
  bool allowed = *name == ajp::kLbActivationAttribute ||
                 std::find(options_.allowed_attributes.begin(), options_.allowed_attributes.end(),
                           *name) != options_.allowed_attributes.end();
  if (allowed) {
    extra_attributes_.push_back({std::move(*name), std::move(*value)});
  } else if (!first_disallowed_) {
    first_disallowed_ = std::move(name);
  }
  return std::nullopt;
}

std::optional<Problem> ForwardParser::map_method() {
  if (method_code_ == ajp::kMethodStored) {
    if (!stored_method_) return Problem{400, "method code 0xFF without a stored_method attribute"};
    if (!http1::is_token(*stored_method_)) {
      return Problem{400, "stored_method is not a token: " + quote_for_log(*stored_method_)};
    }
    req_.method = *stored_method_;
    return std::nullopt;
  }
  std::string_view name = ajp::method_name(method_code_);
  if (name.empty()) return Problem{400, "invalid method code " + std::to_string(method_code_)};
  // Two methods for one request: which one would a backend believe?
  if (stored_method_) {
    return Problem{400, "stored_method " + quote_for_log(*stored_method_) + " with method code " +
                            std::to_string(method_code_)};
  }
  req_.method = std::string(name);
  return std::nullopt;
}

std::optional<Problem> ForwardParser::map_target() {
  const std::string& uri = req_uri_;
  if (req_.server_protocol.empty() ||
      !std::all_of(req_.server_protocol.begin(), req_.server_protocol.end(),
                   [](char c) { return c > 0x20 && c < 0x7F; })) {
    return Problem{400, "bad protocol " + quote_for_log(req_.server_protocol)};
  }
  if (uri.empty() || uri.front() != '/') {
    return Problem{400, "req_uri does not start with '/': " + quote_for_log(uri)};
  }
  // The query comes as its own attribute; a '?' here would make target and
  // path disagree about where the path ends.
  if (!is_target_text(uri) || uri.find('?') != std::string::npos) {
    return Problem{400, "invalid character in req_uri: " + quote_for_log(uri)};
  }
  if (query_string_ && !is_target_text(*query_string_)) {
    return Problem{400, "invalid character in query_string: " + quote_for_log(*query_string_)};
  }
  // req_uri is percent-encoded as forwarded: decoded here, exactly once, and
  // not resolved. As for every other front end, the router refuses a path
  // that is not already normal: resolving "..%2F" here would let a request
  // name one project and reach another.
  std::optional<std::string> path = percent_decode(uri);
  if (!path) return Problem{400, "bad percent-encoding or %00 in req_uri: " + quote_for_log(uri)};
  if (path->empty() || path->front() != '/') {
    return Problem{400, "req_uri does not start with '/': " + quote_for_log(uri)};
  }
  req_.target = uri;
  if (query_string_) {
    req_.target += '?';
    req_.target += *query_string_;
    req_.query = *query_string_;
  }
  req_.path = std::move(*path);
  req_.script_name.clear();
  req_.path_info = req_.path;
  return std::nullopt;
}

std::optional<Problem> ForwardParser::map_body_length() {
  if (content_length_ && transfer_encoding_) {
    return Problem{400, "both Content-Length and Transfer-Encoding"};
  }
  if (content_length_) {
    if (limits_.max_body_bytes != 0 && *content_length_ > limits_.max_body_bytes) {
      return Problem{413, "Content-Length " + std::to_string(*content_length_) + " over " +
                              std::to_string(limits_.max_body_bytes) +
                              " bytes (limits.max_body_bytes)"};
    }
    req_.content_length = content_length_;
  } else if (transfer_encoding_) {
    // mod_jk, mod_proxy_ajp and isapi_redirect de-chunk and send the body
    // only when asked; it ends with an empty packet.
    req_.content_length = std::nullopt;
  } else {
    req_.content_length = 0;
  }
  return std::nullopt;
}

void ForwardParser::map_attributes() {
  if (remote_host_) req_.params.push_back({"REMOTE_HOST", *remote_host_});
  if (remote_user_) req_.remote_user = *remote_user_;
  if (auth_type_) req_.auth_type = *auth_type_;
  if (route_) req_.route = *route_;
  if (ssl_cert_) req_.ssl_client_cert = *ssl_cert_;
  if (ssl_cipher_) req_.ssl_cipher = *ssl_cipher_;
  if (ssl_session_) req_.ssl_session_id = *ssl_session_;
  if (ssl_key_size_) req_.ssl_key_size = *ssl_key_size_;
  if (ssl_protocol_) req_.ssl_protocol = *ssl_protocol_;
  if (local_addr_) req_.server_addr = *local_addr_;
  if (remote_port_) {
    // Tomcat ignores a value that is not a port; so do we.
    std::optional<uint64_t> port = http1::parse_decimal(*remote_port_);
    if (port && *port <= 65535) req_.remote_port = static_cast<uint16_t>(*port);
  }
  for (Header& h : extra_attributes_) req_.params.push_back(std::move(h));
}

void ForwardParser::check_policy(Parsed& out) const {
  if (options_.secret) {
    if (!secret_) {
      out.reject_status = 403;
      out.reject_reason = "AJP secret missing";
      return;
    }
    if (!secret_matches(*options_.secret, *secret_)) {
      out.reject_status = 403;
      out.reject_reason = "AJP secret does not match";
      return;
    }
  }
  if (first_disallowed_) {
    out.reject_status = 403;
    out.reject_reason = "req_attribute " + quote_for_log(*first_disallowed_) + " is not allowed";
  }
}

// A hint for the log when a peer speaks something else on the AJP port.
std::string describe_magic(std::string_view header) {
  std::string what = "bad AJP packet magic " + hex16(integer_at(header, 0)) + " (expected 0x1234)";
  std::string_view start = header.substr(0, 4);
  if (start == "GET " || start == "POST" || start == "HEAD" || start == "PUT " || start == "OPTI" ||
      start == "DELE") {
    what += ": an HTTP request on the AJP port";
  } else if (static_cast<uint8_t>(header[0]) == 0x16) {
    what += ": a TLS handshake on the AJP port";
  }
  return what;
}

}  // namespace

AjpServerCodec::AjpServerCodec(const Limits& limits, AjpOptions options)
    : limits_(limits),
      options_(std::move(options)),
      packet_size_(ajp::clamp_packet_size(limits.ajp_packet_size)) {}

// ---- Input ----

FeedResult AjpServerCodec::feed(std::string_view in, std::vector<Event>& events, std::string& out) {
  FeedResult result;
  size_t pos = 0;
  for (;;) {
    std::string_view rest = in.substr(pos);
    size_t used = 0;
    Step step = Step::Stop;
    if (state_ == State::Idle) {
      step = on_idle(rest, used, events, out);
    } else if (state_ == State::Request || state_ == State::Draining) {
      step = on_body(rest, used, events, out);
    }
    pos += used;
    if (step != Step::Progress) break;
  }
  result.consumed = pos;
  if (state_ == State::Failed) result.error = error_;
  return result;
}

AjpServerCodec::Step AjpServerCodec::on_idle(std::string_view in, size_t& used,
                                             std::vector<Event>& events, std::string& out) {
  if (in.size() < ajp::kHeaderLen) return Step::NeedMore;
  if (static_cast<uint8_t>(in[0]) != ajp::kMagicIn0 ||
      static_cast<uint8_t>(in[1]) != ajp::kMagicIn1) {
    fail(400, describe_magic(in), out);
    return Step::Stop;
  }
  size_t length = integer_at(in, 2);
  if (ajp::kHeaderLen + length > packet_size_) {
    fail(400,
         "packet of " + std::to_string(ajp::kHeaderLen + length) +
             " bytes over the AJP packet size " + std::to_string(packet_size_) +
             " (the listener's packet_size / --ajp-packet-size; the web server's "
             "max_packet_size / ProxyIOBufferSize must match)",
         out);
    return Step::Stop;
  }
  if (length == 0) {
    // lighttpd's mod_ajp13 sends an empty body packet after every bodiless
    // request. It carries nothing, so skipping it cannot desynchronise.
    used = ajp::kHeaderLen;
    return Step::Progress;
  }
  if (in.size() < ajp::kHeaderLen + length) return Step::NeedMore;
  std::string_view payload = in.substr(ajp::kHeaderLen, length);
  used = ajp::kHeaderLen + length;
  auto type = static_cast<uint8_t>(payload[0]);
  switch (type) {
    case ajp::kForwardRequest:
      on_forward_request(payload, events, out);
      break;
    case ajp::kCPing:
      if (length != 1) {
        fail(400, "CPING with " + std::to_string(length) + " payload bytes (expected 1)", out);
      } else {
        ajp::append_cpong(out);
      }
      break;
    case ajp::kShutdown:
      fail(400, "SHUTDOWN packet: never acted on; closing the connection", out);
      break;
    case ajp::kPing:
      fail(400, "AJP14 PING packet (type 8) is not supported", out);
      break;
    default: {
      std::string_view name = ajp::message_type_name(type);
      fail(400,
           "unexpected packet type " + std::to_string(type) +
               (name.empty() ? std::string() : " (" + std::string(name) + ")") +
               " between requests",
           out);
      break;
    }
  }
  return state_ == State::Failed ? Step::Stop : Step::Progress;
}

void AjpServerCodec::on_forward_request(std::string_view payload, std::vector<Event>& events,
                                        std::string& out) {
  content_length_.reset();
  body_received_ = 0;
  body_complete_ = false;
  packet_awaited_ = false;
  packet_left_ = 0;
  head_only_ = false;
  rejected_ = false;
  head_written_ = false;
  no_body_ = false;
  state_ = State::Request;

  Parsed parsed;
  ForwardParser parser(limits_, options_, payload);
  if (std::optional<Problem> p = parser.parse(parsed)) {
    // The web server waits for an answer to this request: give it one it can
    // pass on, then close (reuse=0).
    fail(p->status, std::move(p->what), out);
    return;
  }
  Request& req = parsed.request;
  content_length_ = req.content_length;
  head_only_ = req.method == "HEAD";
  rejected_ = parsed.reject_status != 0;
  events.push_back(RequestStarted{kStream, std::move(req), parsed.reject_status,
                                  std::move(parsed.reject_reason)});
  if (!content_length_) return;  // unknown: the body comes only when asked
  if (*content_length_ == 0) {
    end_body(events);
  } else {
    packet_awaited_ = true;  // the first packet comes unasked
  }
}

AjpServerCodec::Step AjpServerCodec::on_body(std::string_view in, size_t& used,
                                             std::vector<Event>& events, std::string& out) {
  // Nothing is read while no packet is awaited: the web server sends none
  // unasked, and bytes for the next request wait for write_end().
  if (!packet_awaited_) return Step::Stop;
  if (packet_left_ == 0) return on_body_header(in, used, events, out);
  if (in.empty()) return Step::NeedMore;
  size_t n = std::min(in.size(), packet_left_);
  if (state_ == State::Request) events.push_back(BodyData{kStream, in.substr(0, n)});
  used = n;
  packet_left_ -= n;
  body_received_ += n;
  if (packet_left_ == 0) on_packet_done(events);
  return Step::Progress;
}

AjpServerCodec::Step AjpServerCodec::on_body_header(std::string_view in, size_t& used,
                                                    std::vector<Event>& events, std::string& out) {
  if (in.size() < ajp::kHeaderLen) return Step::NeedMore;
  if (static_cast<uint8_t>(in[0]) != ajp::kMagicIn0 ||
      static_cast<uint8_t>(in[1]) != ajp::kMagicIn1) {
    fail(400, describe_magic(in) + " where a body packet was expected", out);
    return Step::Stop;
  }
  size_t length = integer_at(in, 2);
  if (ajp::kHeaderLen + length > packet_size_) {
    fail(400,
         "body packet of " + std::to_string(ajp::kHeaderLen + length) +
             " bytes over the AJP packet size " + std::to_string(packet_size_) +
             " (the listener's packet_size / --ajp-packet-size)",
         out);
    return Step::Stop;
  }
  if (length == 0) {  // mod_jk's end of body: 12 34 00 00
    used = ajp::kHeaderLen;
    on_empty_body_packet(events, out);
    return state_ == State::Failed ? Step::Stop : Step::Progress;
  }
  if (length == 1) {
    if (in.size() < ajp::kHeaderLen + 1) return Step::NeedMore;
    fail(400,
         static_cast<uint8_t>(in[4]) == ajp::kCPing
             ? std::string("CPING while a request is in progress")
             : std::string("body packet of 1 byte has no chunk length"),
         out);
    return Step::Stop;
  }
  if (in.size() < ajp::kBodyPacketOverhead) return Step::NeedMore;
  size_t chunk = integer_at(in, 4);
  if (chunk + 2 != length) {
    // lighttpd's mod_ajp13 omits the chunk length; never guess where such a
    // packet's data ends.
    fail(400,
         "body packet chunk length " + std::to_string(chunk) +
             " does not match its packet length " + std::to_string(length) + " (expected " +
             std::to_string(length - 2) + ")",
         out);
    return Step::Stop;
  }
  used = ajp::kBodyPacketOverhead;
  if (chunk == 0) {  // mod_proxy_ajp's end of body: 12 34 00 02 00 00
    on_empty_body_packet(events, out);
    return state_ == State::Failed ? Step::Stop : Step::Progress;
  }
  if (content_length_ && body_received_ + chunk > *content_length_) {
    fail(400,
         "body packet of " + std::to_string(chunk) + " bytes goes past Content-Length " +
             std::to_string(*content_length_) + " (" + std::to_string(body_received_) +
             " received)",
         out);
    return Step::Stop;
  }
  if (!content_length_ && state_ == State::Request && limits_.max_body_bytes != 0 &&
      body_received_ + chunk > limits_.max_body_bytes) {
    fail(413,
         "request body over " + std::to_string(limits_.max_body_bytes) +
             " bytes (limits.max_body_bytes)",
         out);
    return Step::Stop;
  }
  packet_left_ = chunk;
  return Step::Progress;
}

void AjpServerCodec::on_packet_done(std::vector<Event>& events) {
  packet_awaited_ = false;
  if (state_ == State::Draining) {
    finish_exchange();
    return;
  }
  if (content_length_ && body_received_ == *content_length_) end_body(events);
}

void AjpServerCodec::on_empty_body_packet(std::vector<Event>& events, std::string& out) {
  packet_awaited_ = false;
  if (state_ == State::Draining) {
    finish_exchange();
    return;
  }
  if (content_length_) {
    // mod_jk sends this when its client went away mid-body.
    fail(400,
         "request body ended after " + std::to_string(body_received_) + " of " +
             std::to_string(*content_length_) + " bytes (client aborted?)",
         out);
    return;
  }
  end_body(events);
}

void AjpServerCodec::end_body(std::vector<Event>& events) {
  body_complete_ = true;
  events.push_back(BodyEnd{kStream});
}

void AjpServerCodec::want_body(StreamId /*stream*/, std::string& out) {
  if (state_ != State::Request || body_complete_ || packet_awaited_) return;
  ajp::append_get_body_chunk(out, static_cast<uint16_t>(packet_size_ - ajp::kBodyPacketOverhead));
  packet_awaited_ = true;
}

void AjpServerCodec::fail(int status, std::string what, std::string& out) {
  if (response_open()) {
    ResponseHead head;
    head.status = status;
    ajp::append_send_headers(out, head, packet_size_);
    ajp::append_end_response(out, false);
  }
  error_ = CodecError{status, std::move(what)};
  state_ = State::Failed;
}

// ---- Output ----

bool AjpServerCodec::response_open() const {
  return state_ == State::Request && !head_written_;
}

void AjpServerCodec::write_head(StreamId /*stream*/, const ResponseHead& head, std::string& out) {
  if (!response_open()) return;
  head_written_ = true;
  int status = ajp::append_send_headers(out, head, packet_size_);
  no_body_ = head_only_ || status < 200 || status == 204 || status == 304;
}

void AjpServerCodec::write_body(StreamId /*stream*/, std::string_view data, std::string& out) {
  if (state_ != State::Request || !head_written_ || no_body_) return;
  ajp::append_send_body(out, data, packet_size_);
}

bool AjpServerCodec::write_end(StreamId /*stream*/, std::string& out) {
  if (state_ != State::Request) return false;
  if (!head_written_ || rejected_) {
    // A refused request closes the connection, as Tomcat does after a 403
    // for a wrong secret or a forbidden attribute.
    if (head_written_) ajp::append_end_response(out, false);
    state_ = State::Closed;
    return false;
  }
  ajp::append_end_response(out, true);
  if (packet_awaited_) {
    state_ = State::Draining;  // read and drop that packet before the next request
  } else {
    finish_exchange();
  }
  return true;
}

bool AjpServerCodec::write_abort(StreamId /*stream*/, std::string& /*out*/) {
  if (state_ == State::Request) state_ = State::Closed;
  return false;
}

void AjpServerCodec::finish_exchange() {
  state_ = State::Idle;
  content_length_.reset();
  body_received_ = 0;
  body_complete_ = false;
  packet_awaited_ = false;
  packet_left_ = 0;
  head_only_ = false;
  rejected_ = false;
  head_written_ = false;
  no_body_ = false;
}

}  // namespace gw
