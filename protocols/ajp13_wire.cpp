// AJP13 wire format: code tables, readers, writers, container messages.
#include "protocols/ajp13_wire.h"

#include <algorithm>
#include <array>

#include "protocols/http1_common.h"

namespace gw::ajp {

namespace {

// Index = method code - 1. The names Tomcat produces and mod_jk and
// mod_proxy_ajp match ("BASELINE-CONTROL", not the ajpv13a doc's underscore).
constexpr std::array<std::string_view, 27> kMethods = {
    "OPTIONS",
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "ACL",
    "REPORT",
    "VERSION-CONTROL",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "SEARCH",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "BASELINE-CONTROL",
    "MKACTIVITY",
};
static_assert(kMethods.size() == kLastMethodCode - kFirstMethodCode + 1);

// Index = code - 0xA001.
constexpr std::array<std::string_view, 14> kRequestHeaders = {
    "Accept",     "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
    "Connection", "Content-Type",   "Content-Length",  "Cookie",          "Cookie2",
    "Host",       "Pragma",         "Referer",         "User-Agent",
};

constexpr std::array<std::string_view, 11> kResponseHeaders = {
    "Content-Type", "Content-Language", "Content-Length", "Date",   "Last-Modified",    "Location",
    "Set-Cookie",   "Set-Cookie2",      "Servlet-Engine", "Status", "WWW-Authenticate",
};

template <size_t N>
std::string_view coded_name(const std::array<std::string_view, N>& table, uint16_t code) {
  if ((code & kCodedNameMask) != kCodedNamePrefix) return {};
  size_t index = code & 0xFF;
  if (index < 1 || index > N) return {};
  return table[index - 1];
}

template <size_t N>
uint16_t name_code(const std::array<std::string_view, N>& table, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (iequals(table[i], name)) return static_cast<uint16_t>(kCodedNamePrefix + i + 1);
  }
  return 0;
}

void put_integer_at(std::string& out, size_t at, uint16_t value) {
  out[at] = static_cast<char>(value >> 8);
  out[at + 1] = static_cast<char>(value & 0xFF);
}

// True when `name` appears as a token of a Connection header of `head`.
bool listed_in_connection(const ResponseHead& head, std::string_view name) {
  for (const Header& h : head.headers) {
    if (!iequals(h.name, "Connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (iequals(http1::trim_ows(rest.substr(0, comma)), name)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

// `has_connection`: whether the head has a Connection field at all, found
// once per head rather than by a scan of every field for every field.
bool is_dropped_response_header(const ResponseHead& head, std::string_view name,
                                bool has_connection) {
  static constexpr std::array<std::string_view, 7> kHopByHop = {
      "Connection", "Keep-Alive",        "Proxy-Connection", "TE",
      "Trailer",    "Transfer-Encoding", "Upgrade",
  };
  for (std::string_view h : kHopByHop) {
    if (iequals(name, h)) return true;
  }
  return has_connection && listed_in_connection(head, name);
}

}  // namespace

size_t clamp_packet_size(size_t size) {
  return std::clamp(size, kMinPacketSize, kMaxPacketSize);
}

std::string_view message_type_name(uint8_t type) {
  switch (type) {
    case kForwardRequest:
      return "FORWARD_REQUEST";
    case kSendBodyChunk:
      return "SEND_BODY_CHUNK";
    case kSendHeaders:
      return "SEND_HEADERS";
    case kEndResponse:
      return "END_RESPONSE";
    case kGetBodyChunk:
      return "GET_BODY_CHUNK";
    case kShutdown:
      return "SHUTDOWN";
    case kPing:
      return "PING";
    case kCPongReply:
      return "CPONG";
    case kCPing:
      return "CPING";
    default:
      return {};
  }
}

std::string_view method_name(uint8_t code) {
  if (code < kFirstMethodCode || code > kLastMethodCode) return {};
  return kMethods[code - kFirstMethodCode];
}

uint8_t method_code(std::string_view name) {
  for (size_t i = 0; i < kMethods.size(); ++i) {
    if (kMethods[i] == name) return static_cast<uint8_t>(kFirstMethodCode + i);
  }
  return kMethodStored;
}

std::string_view request_header_name(uint16_t code) {
  return coded_name(kRequestHeaders, code);
}

uint16_t request_header_code(std::string_view name) {
  return name_code(kRequestHeaders, name);
}

std::string_view response_header_name(uint16_t code) {
  return coded_name(kResponseHeaders, code);
}

uint16_t response_header_code(std::string_view name) {
  return name_code(kResponseHeaders, name);
}

std::string_view attribute_name(uint8_t code) {
  switch (code) {
    case kAttrContext:
      return "context";
    case kAttrServletPath:
      return "servlet_path";
    case kAttrRemoteUser:
      return "remote_user";
    case kAttrAuthType:
      return "auth_type";
    case kAttrQueryString:
      return "query_string";
    case kAttrRoute:
      return "route";
    case kAttrSslCert:
      return "ssl_cert";
    case kAttrSslCipher:
      return "ssl_cipher";
    case kAttrSslSession:
      return "ssl_session";
    case kAttrReqAttribute:
      return "req_attribute";
    case kAttrSslKeySize:
      return "ssl_key_size";
    case kAttrSecret:
      return "secret";
    case kAttrStoredMethod:
      return "stored_method";
    case kAttrAreDone:
      return "are_done";
    default:
      return {};
  }
}

// ---- Reader ----

std::optional<uint8_t> Reader::byte() {
  if (remaining() < 1) return std::nullopt;
  return static_cast<uint8_t>(data_[pos_++]);
}

std::optional<uint16_t> Reader::peek_integer() const {
  if (remaining() < 2) return std::nullopt;
  auto hi = static_cast<uint8_t>(data_[pos_]);
  auto lo = static_cast<uint8_t>(data_[pos_ + 1]);
  return static_cast<uint16_t>(hi << 8 | lo);
}

std::optional<uint16_t> Reader::integer() {
  std::optional<uint16_t> v = peek_integer();
  if (v) pos_ += 2;
  return v;
}

Reader::StringStatus Reader::string(std::string_view& value) {
  std::optional<uint16_t> length = peek_integer();
  if (!length) return StringStatus::Truncated;
  if (*length == kNullStringLength) {
    pos_ += 2;
    value = {};
    return StringStatus::Null;
  }
  // 64-bit arithmetic: 2 + 65534 + 1 cannot wrap, and it is compared with
  // what is left before anything is read.
  uint64_t need = uint64_t{2} + *length + 1;
  if (need > remaining()) return StringStatus::Truncated;
  if (data_[pos_ + 2 + *length] != '\0') return StringStatus::Unterminated;
  value = data_.substr(pos_ + 2, *length);
  pos_ += static_cast<size_t>(need);
  return StringStatus::Ok;
}

std::optional<std::string_view> Reader::bytes(size_t n) {
  if (n > remaining()) return std::nullopt;
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

std::string_view describe(Reader::StringStatus status) {
  switch (status) {
    case Reader::StringStatus::Ok:
      return "ok";
    case Reader::StringStatus::Null:
      return "null string";
    case Reader::StringStatus::Truncated:
      return "string runs past the end of the packet";
    case Reader::StringStatus::Unterminated:
      return "string without its NUL terminator";
  }
  return "?";
}

// ---- Writers ----

void append_byte(std::string& out, uint8_t value) {
  out.push_back(static_cast<char>(value));
}

void append_integer(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value & 0xFF));
}

bool append_string(std::string& out, std::string_view value) {
  if (value.size() > kMaxStringLength) return false;
  append_integer(out, static_cast<uint16_t>(value.size()));
  out.append(value);
  out.push_back('\0');
  return true;
}

void append_null_string(std::string& out) {
  append_integer(out, kNullStringLength);
}

size_t begin_packet(std::string& out, Direction direction) {
  size_t start = out.size();
  if (direction == Direction::ToContainer) {
    append_byte(out, kMagicIn0);
    append_byte(out, kMagicIn1);
  } else {
    append_byte(out, kMagicOut0);
    append_byte(out, kMagicOut1);
  }
  append_integer(out, 0);
  return start;
}

bool end_packet(std::string& out, size_t start, size_t packet_size) {
  size_t total = out.size() - start;
  if (total > packet_size || total - kHeaderLen > 0xFFFF) {
    out.resize(start);
    return false;
  }
  put_integer_at(out, start + 2, static_cast<uint16_t>(total - kHeaderLen));
  return true;
}

void append_cpong(std::string& out) {
  size_t start = begin_packet(out, Direction::ToWebServer);
  append_byte(out, kCPongReply);
  end_packet(out, start, kMaxPacketSize);
}

void append_get_body_chunk(std::string& out, uint16_t requested) {
  size_t start = begin_packet(out, Direction::ToWebServer);
  append_byte(out, kGetBodyChunk);
  append_integer(out, requested);
  end_packet(out, start, kMaxPacketSize);
}

void append_end_response(std::string& out, bool reuse) {
  size_t start = begin_packet(out, Direction::ToWebServer);
  append_byte(out, kEndResponse);
  append_byte(out, reuse ? 1 : 0);
  end_packet(out, start, kMaxPacketSize);
}

void append_send_body(std::string& out, std::string_view data, size_t packet_size) {
  size_t max_data = clamp_packet_size(packet_size) - kSendBodyOverhead;
  while (!data.empty()) {
    std::string_view piece = data.substr(0, max_data);
    data.remove_prefix(piece.size());
    size_t start = begin_packet(out, Direction::ToWebServer);
    append_byte(out, kSendBodyChunk);
    append_integer(out, static_cast<uint16_t>(piece.size()));
    out.append(piece);
    out.push_back('\0');
    end_packet(out, start, kMaxPacketSize);
  }
}

void append_flush(std::string& out) {
  size_t start = begin_packet(out, Direction::ToWebServer);
  append_byte(out, kSendBodyChunk);
  append_integer(out, 0);
  out.push_back('\0');
  end_packet(out, start, kMaxPacketSize);
}

int append_send_headers(std::string& out, const ResponseHead& head, size_t packet_size) {
  packet_size = clamp_packet_size(packet_size);
  int status = head.status >= 100 && head.status <= 599 ? head.status : 500;
  std::string_view reason = head.reason;
  // The reason travels to the browser in the status line: only field
  // characters, and short enough that the headers still have room.
  bool reason_ok = !reason.empty() && status == head.status && reason.size() <= 256 &&
                   http1::is_field_value(reason);
  if (!reason_ok) reason = reason_phrase(status);

  size_t start = begin_packet(out, Direction::ToWebServer);
  append_byte(out, kSendHeaders);
  append_integer(out, static_cast<uint16_t>(status));
  append_string(out, reason);
  size_t count_at = out.size();
  append_integer(out, 0);
  uint16_t count = 0;
  const bool has_connection =
      std::any_of(head.headers.begin(), head.headers.end(),
                  [](const Header& h) { return iequals(h.name, "Connection"); });
  for (const Header& h : head.headers) {
    if (!http1::is_token(h.name) || !http1::is_field_value(h.value)) continue;
    if (is_dropped_response_header(head, h.name, has_connection)) continue;
    if (count == 0xFFFE) break;  // mod_jk reads a count of 0xFFFF as an error
    uint16_t code = response_header_code(h.name);
    size_t name_size = code != 0 ? 2 : string_size(h.name);
    if (code == 0 && h.name.size() > kMaxStringNameLength) continue;
    if (out.size() - start + name_size + string_size(h.value) > packet_size) continue;
    if (code != 0) {
      append_integer(out, code);
    } else {
      append_string(out, h.name);
    }
    append_string(out, h.value);
    ++count;
  }
  put_integer_at(out, count_at, count);
  end_packet(out, start, packet_size);
  return status;
}

}  // namespace gw::ajp
