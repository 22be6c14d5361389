// AJP13 web-server side: request encoders and the container-message decoder.
#include "protocols/ajp13_client.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "protocols/cgi_params.h"
#include "protocols/http1_common.h"
#include "protocols/path.h"

namespace gw {
namespace ajp {

namespace {

// Appends to a packet under construction, remembering whether every piece
// could be encoded.
struct PacketWriter {
  std::string& out;
  bool ok = true;

  void string(std::string_view v) { ok = ok && append_string(out, v); }
  void optional(const std::optional<std::string>& v) {
    if (v) {
      string(*v);
    } else {
      append_null_string(out);
    }
  }
  void attribute(uint8_t code, const std::optional<std::string>& v) {
    if (!v) return;
    append_byte(out, code);
    string(*v);
  }
};

}  // namespace

bool encode_forward_request(std::string& out, const ForwardRequest& req, size_t packet_size) {
  size_t start = begin_packet(out, Direction::ToContainer);
  PacketWriter w{out};
  uint8_t code = req.method_code ? *req.method_code : method_code(req.method);
  append_byte(out, kForwardRequest);
  append_byte(out, code);
  w.string(req.protocol);
  w.string(req.req_uri);
  w.string(req.remote_addr);
  w.optional(req.remote_host);
  w.string(req.server_name);
  append_integer(out, req.server_port);
  append_byte(out, req.is_ssl ? 1 : 0);
  w.ok = w.ok && req.headers.size() < 0xFFFF;
  append_integer(out, static_cast<uint16_t>(std::min<size_t>(req.headers.size(), 0xFFFF)));
  for (const Header& h : req.headers) {
    if (uint16_t coded = request_header_code(h.name); coded != 0) {
      append_integer(out, coded);
    } else {
      // A longer name would read back as a 0xA0xx code.
      w.ok = w.ok && h.name.size() <= kMaxStringNameLength;
      w.string(h.name);
    }
    w.string(h.value);
  }
  w.attribute(kAttrContext, req.context);
  w.attribute(kAttrServletPath, req.servlet_path);
  w.attribute(kAttrSecret, req.secret);
  w.attribute(kAttrRemoteUser, req.remote_user);
  w.attribute(kAttrAuthType, req.auth_type);
  w.attribute(kAttrQueryString, req.query_string);
  w.attribute(kAttrRoute, req.route);
  w.attribute(kAttrSslCert, req.ssl_cert);
  w.attribute(kAttrSslCipher, req.ssl_cipher);
  w.attribute(kAttrSslSession, req.ssl_session);
  if (req.ssl_key_size) {
    append_byte(out, kAttrSslKeySize);
    append_integer(out, *req.ssl_key_size);
  }
  if (req.stored_method) {
    w.attribute(kAttrStoredMethod, req.stored_method);
  } else if (!req.method_code && code == kMethodStored) {
    w.attribute(kAttrStoredMethod, req.method);
  }
  for (const Header& a : req.attributes) {
    append_byte(out, kAttrReqAttribute);
    w.string(a.name);
    w.string(a.value);
  }
  append_byte(out, kAttrAreDone);
  if (!w.ok) {
    out.resize(start);
    return false;
  }
  return end_packet(out, start, clamp_packet_size(packet_size));
}

bool encode_body_packet(std::string& out, std::string_view data, size_t packet_size) {
  if (data.size() > clamp_packet_size(packet_size) - kBodyPacketOverhead) return false;
  size_t start = begin_packet(out, Direction::ToContainer);
  append_integer(out, static_cast<uint16_t>(data.size()));
  out.append(data);
  return end_packet(out, start, clamp_packet_size(packet_size));
}

void encode_body_end(std::string& out, BodyEndForm form) {
  size_t start = begin_packet(out, Direction::ToContainer);
  if (form == BodyEndForm::ZeroChunk) append_integer(out, 0);
  end_packet(out, start, kMaxPacketSize);
}

void encode_cping(std::string& out) {
  size_t start = begin_packet(out, Direction::ToContainer);
  append_byte(out, kCPing);
  end_packet(out, start, kMaxPacketSize);
}

ForwardRequest forward_request_for(const Request& request) {
  ForwardRequest f;
  f.method = request.method;
  f.protocol = request.server_protocol.empty() ? "HTTP/1.1" : request.server_protocol;
  std::string_view target = request.target;
  if (target.starts_with('/')) {
    size_t q = target.find('?');
    f.req_uri = std::string(target.substr(0, q));
    if (q != std::string_view::npos) f.query_string = std::string(target.substr(q + 1));
  } else {
    f.req_uri = percent_encode_path(request.path.empty() ? "/" : request.path);
    if (!request.query.empty()) f.query_string = request.query;
  }
  f.remote_addr = request.remote_addr;
  for (const Header& p : request.params) {
    if (p.name == "REMOTE_HOST") f.remote_host = p.value;
  }
  f.server_name = request.server_name;
  f.server_port = request.server_port;
  f.is_ssl = request.https;
  for (const Header& h : request.headers) {
    if (http1::is_hop_by_hop(h.name) || iequals(h.name, "Content-Length")) continue;
    f.headers.push_back(h);
  }
  // AJP frames the body from these headers: a length, or none plus
  // Transfer-Encoding for a body sent on request until an empty packet.
  if (request.content_length) {
    f.headers.push_back({"Content-Length", std::to_string(*request.content_length)});
  } else {
    f.headers.push_back({"Transfer-Encoding", "chunked"});
  }
  if (!request.remote_user.empty()) f.remote_user = request.remote_user;
  if (!request.auth_type.empty()) f.auth_type = request.auth_type;
  if (!request.route.empty()) f.route = request.route;
  if (!request.ssl_client_cert.empty()) f.ssl_cert = request.ssl_client_cert;
  if (!request.ssl_cipher.empty()) f.ssl_cipher = request.ssl_cipher;
  if (!request.ssl_session_id.empty()) f.ssl_session = request.ssl_session_id;
  if (request.ssl_key_size != 0) {
    f.ssl_key_size = static_cast<uint16_t>(std::min<uint32_t>(request.ssl_key_size, 0xFFFF));
  }
  if (request.remote_port != 0) {
    f.attributes.push_back(
        {std::string(kRemotePortAttribute), std::to_string(request.remote_port)});
  }
  if (!request.server_addr.empty()) {
    f.attributes.push_back({std::string(kLocalAddrAttribute), request.server_addr});
  }
  if (!request.ssl_protocol.empty()) {
    f.attributes.push_back({std::string(kSslProtocolAttribute), request.ssl_protocol});
  }
  return f;
}

}  // namespace ajp

namespace {

CodecError bad(std::string what) {
  return CodecError{502, "AJP container: " + std::move(what)};
}

}  // namespace

AjpClientDecoder::AjpClientDecoder(const Limits& limits)
    : limits_(limits), packet_size_(ajp::clamp_packet_size(limits.ajp_packet_size)) {}

FeedResult AjpClientDecoder::feed(std::string_view in, std::vector<ajp::ClientEvent>& events) {
  FeedResult result;
  if (error_) {
    result.error = error_;
    return result;
  }
  size_t pos = 0;
  while (in.size() - pos >= ajp::kHeaderLen) {
    std::string_view rest = in.substr(pos);
    if (static_cast<uint8_t>(rest[0]) != ajp::kMagicOut0 ||
        static_cast<uint8_t>(rest[1]) != ajp::kMagicOut1) {
      error_ = bad("bad packet magic " + quote_for_log(rest.substr(0, 2)) + " (expected \"AB\")");
      break;
    }
    size_t length =
        static_cast<size_t>(static_cast<uint8_t>(rest[2])) << 8 | static_cast<uint8_t>(rest[3]);
    if (ajp::kHeaderLen + length > packet_size_) {
      error_ = bad("packet of " + std::to_string(ajp::kHeaderLen + length) +
                   " bytes over the packet size " + std::to_string(packet_size_));
      break;
    }
    if (rest.size() < ajp::kHeaderLen + length) break;
    if (length == 0) {
      error_ = bad("empty packet");
      break;
    }
    error_ = on_packet(rest.substr(ajp::kHeaderLen, length), events);
    if (error_) break;
    pos += ajp::kHeaderLen + length;
  }
  result.consumed = pos;
  result.error = error_;
  return result;
}

std::optional<CodecError> AjpClientDecoder::on_packet(std::string_view payload,
                                                      std::vector<ajp::ClientEvent>& events) const {
  ajp::Reader reader(payload);
  auto type = *reader.byte();
  switch (type) {
    case ajp::kSendHeaders:
      return on_send_headers(reader, events);
    case ajp::kSendBodyChunk: {
      std::optional<uint16_t> length = reader.integer();
      if (!length) return bad("SEND_BODY_CHUNK without a length");
      // Tomcat adds a NUL after the data (mod_proxy_ajp insists on it);
      // mod_jk also takes a chunk without it.
      size_t rest = reader.remaining();
      bool with_nul = rest == size_t{*length} + 1 && payload.back() == '\0';
      if (rest != *length && !with_nul) {
        return bad("SEND_BODY_CHUNK length " + std::to_string(*length) + " does not match its " +
                   std::to_string(payload.size()) + "-byte packet");
      }
      events.emplace_back(ajp::SendBodyChunk{*reader.bytes(*length)});
      return std::nullopt;
    }
    case ajp::kGetBodyChunk: {
      std::optional<uint16_t> requested = reader.integer();
      if (!requested || !reader.at_end()) return bad("malformed GET_BODY_CHUNK");
      events.emplace_back(ajp::GetBodyChunk{*requested});
      return std::nullopt;
    }
    case ajp::kEndResponse: {
      std::optional<uint8_t> reuse = reader.byte();
      if (!reuse || !reader.at_end()) return bad("malformed END_RESPONSE");
      events.emplace_back(ajp::EndResponse{*reuse != 0});
      return std::nullopt;
    }
    case ajp::kCPongReply:
      if (!reader.at_end()) return bad("malformed CPONG");
      events.emplace_back(ajp::CPong{});
      return std::nullopt;
    default:
      return bad("unexpected packet type " + std::to_string(type));
  }
}

std::optional<CodecError> AjpClientDecoder::on_send_headers(
    ajp::Reader& reader, std::vector<ajp::ClientEvent>& events) const {
  ajp::SendHeaders msg;
  std::optional<uint16_t> status = reader.integer();
  if (!status || *status < 100 || *status > 999) return bad("SEND_HEADERS without a valid status");
  msg.head.status = *status;
  std::string_view text;
  auto st = reader.string(text);
  if (st == ajp::Reader::StringStatus::Truncated || st == ajp::Reader::StringStatus::Unterminated) {
    return bad("SEND_HEADERS reason: " + std::string(ajp::describe(st)));
  }
  msg.head.reason = std::string(text);  // a null reason reads as empty
  std::optional<uint16_t> count = reader.integer();
  if (!count || *count == 0xFFFF) return bad("SEND_HEADERS without a header count");
  if (*count > limits_.header_count) {
    return bad("SEND_HEADERS with " + std::to_string(*count) + " headers, more than " +
               std::to_string(limits_.header_count));
  }
  for (uint16_t i = 0; i < *count; ++i) {
    std::optional<uint16_t> peek = reader.peek_integer();
    if (!peek) return bad("SEND_HEADERS ends inside its headers");
    std::string name;
    if ((*peek & ajp::kCodedNameMask) == ajp::kCodedNamePrefix) {
      reader.integer();
      std::string_view coded = ajp::response_header_name(*peek);
      if (coded.empty()) return bad("invalid response header code " + std::to_string(*peek));
      name = std::string(coded);
    } else {
      st = reader.string(text);
      if (st != ajp::Reader::StringStatus::Ok) {
        return bad("SEND_HEADERS header name: " + std::string(ajp::describe(st)));
      }
      name = std::string(text);
    }
    st = reader.string(text);
    if (st != ajp::Reader::StringStatus::Ok) {
      return bad("SEND_HEADERS value of " + quote_for_log(name) + ": " +
                 std::string(ajp::describe(st)));
    }
    if (name.size() > limits_.name_bytes || text.size() > limits_.value_bytes) {
      return bad("SEND_HEADERS header over the name or value limit: " + quote_for_log(name));
    }
    msg.head.headers.push_back({std::move(name), std::string(text)});
  }
  if (!reader.at_end()) return bad("bytes after the headers of SEND_HEADERS");
  events.emplace_back(std::move(msg));
  return std::nullopt;
}

}  // namespace gw
