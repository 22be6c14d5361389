// AJP13 wire format, shared by the container side (ajp13_server) and the
// web-server side (ajp13_client): constants, the code tables, big-endian
// readers and writers of AJP integers and strings, packet framing and the
// encoders of the container's messages (the AJPv13 protocol as mod_jk,
// mod_proxy_ajp and Tomcat implement it).
//
// Every reader is bounds-checked against the payload it was given; every
// writer that could produce something a peer misreads (a string of 0xFFFF
// bytes, a header name long enough to look like a 0xA0xx code, a packet over
// the negotiated size) refuses instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/request.h"

namespace gw::ajp {

// ---- Packet framing ----

// Web server -> container: 0x12 0x34; container -> web server: "AB".
inline constexpr uint8_t kMagicIn0 = 0x12;
inline constexpr uint8_t kMagicIn1 = 0x34;
inline constexpr uint8_t kMagicOut0 = 'A';
inline constexpr uint8_t kMagicOut1 = 'B';
inline constexpr size_t kHeaderLen = 4;  // magic + payload length

// Packet size, header included. Both ends must agree: mod_jk
// max_packet_size, mod_proxy_ajp ProxyIOBufferSize, Tomcat packetSize.
inline constexpr size_t kDefaultPacketSize = 8192;
inline constexpr size_t kMinPacketSize = 8192;
inline constexpr size_t kMaxPacketSize = 65536;

// A request body packet: header, 2-byte chunk length, data. So at most
// packet_size - 6 data bytes per packet (8186 by default); that is also what
// GET_BODY_CHUNK asks for.
inline constexpr size_t kBodyPacketOverhead = kHeaderLen + 2;
// SEND_BODY_CHUNK: header, type, 2-byte length, data, trailing NUL: at most
// packet_size - 8 data bytes (8184 by default, Tomcat's MAX_SEND_SIZE).
inline constexpr size_t kSendBodyOverhead = kHeaderLen + 1 + 2 + 1;

// Clamps a configured size into [kMinPacketSize, kMaxPacketSize].
size_t clamp_packet_size(size_t size);

// ---- Message types ----

inline constexpr uint8_t kForwardRequest = 2;  // WS -> us
inline constexpr uint8_t kSendBodyChunk = 3;   // us -> WS
inline constexpr uint8_t kSendHeaders = 4;     // us -> WS
inline constexpr uint8_t kEndResponse = 5;     // us -> WS
inline constexpr uint8_t kGetBodyChunk = 6;    // us -> WS
inline constexpr uint8_t kShutdown = 7;        // WS -> us, never acted on
inline constexpr uint8_t kPing = 8;            // WS -> us, AJP14 leftover, unused
inline constexpr uint8_t kCPongReply = 9;      // us -> WS
inline constexpr uint8_t kCPing = 10;          // WS -> us

std::string_view message_type_name(uint8_t type);  // "FORWARD_REQUEST", ..., "" if unknown

// ---- Method codes ----

inline constexpr uint8_t kFirstMethodCode = 1;  // OPTIONS
inline constexpr uint8_t kLastMethodCode = 27;  // MKACTIVITY
inline constexpr uint8_t kMethodStored = 0xFF;  // the name is in attribute stored_method

// "GET" for 2, ...; "" for any code outside 1..27 (0xFF included).
std::string_view method_name(uint8_t code);
// The code for a method name (exact, case-sensitive, as methods compare);
// kMethodStored when AJP has no code for it.
uint8_t method_code(std::string_view name);

// ---- Header name codes ----

// A 2-byte value whose high byte is 0xA0 is a coded name; anything else is
// the length of a string name. So string names must stay below 0xA000 bytes.
inline constexpr uint16_t kCodedNameMask = 0xFF00;
inline constexpr uint16_t kCodedNamePrefix = 0xA000;
inline constexpr size_t kMaxStringNameLength = 0x9FFF;

// Request header codes 0xA001..0xA00E: "Accept" ... "User-Agent" (HTTP
// spellings); "" for any other value.
std::string_view request_header_name(uint16_t code);
// The code for a request header name (case-insensitive), 0 when none.
uint16_t request_header_code(std::string_view name);

// Response header codes 0xA001..0xA00B: "Content-Type" ...
// "WWW-Authenticate"; "" for any other value.
std::string_view response_header_name(uint16_t code);
// The code for a response header name (case-insensitive), 0 when none.
uint16_t response_header_code(std::string_view name);

// ---- Attributes ----

inline constexpr uint8_t kAttrContext = 0x01;       // string, ignored
inline constexpr uint8_t kAttrServletPath = 0x02;   // string, ignored
inline constexpr uint8_t kAttrRemoteUser = 0x03;    // string
inline constexpr uint8_t kAttrAuthType = 0x04;      // string
inline constexpr uint8_t kAttrQueryString = 0x05;   // string, no leading '?'
inline constexpr uint8_t kAttrRoute = 0x06;         // string (jvm_route)
inline constexpr uint8_t kAttrSslCert = 0x07;       // string, PEM
inline constexpr uint8_t kAttrSslCipher = 0x08;     // string
inline constexpr uint8_t kAttrSslSession = 0x09;    // string
inline constexpr uint8_t kAttrReqAttribute = 0x0A;  // two strings: name, value
inline constexpr uint8_t kAttrSslKeySize = 0x0B;    // integer, not a string
inline constexpr uint8_t kAttrSecret = 0x0C;        // string
inline constexpr uint8_t kAttrStoredMethod = 0x0D;  // string
inline constexpr uint8_t kAttrAreDone = 0xFF;       // terminator

std::string_view attribute_name(uint8_t code);  // "remote_user", ..., "" if unknown

// req_attribute names the real clients send (mod_jk, mod_proxy_ajp).
inline constexpr std::string_view kRemotePortAttribute = "AJP_REMOTE_PORT";
inline constexpr std::string_view kLocalAddrAttribute = "AJP_LOCAL_ADDR";
inline constexpr std::string_view kSslProtocolAttribute = "AJP_SSL_PROTOCOL";
inline constexpr std::string_view kLbActivationAttribute = "JK_LB_ACTIVATION";

// ---- Data types ----

inline constexpr uint16_t kNullStringLength = 0xFFFF;
// The longest string that can be encoded (0xFFFF means null).
inline constexpr size_t kMaxStringLength = 0xFFFE;

// A bounds-checked cursor over one packet payload. A failed read leaves the
// position unchanged.
class Reader {
 public:
  explicit Reader(std::string_view payload) : data_(payload) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }

  std::optional<uint8_t> byte();
  std::optional<uint16_t> integer();
  std::optional<uint16_t> peek_integer() const;

  enum class StringStatus : uint8_t {
    Ok,            // value holds the bytes (no terminator)
    Null,          // length 0xFFFF: no bytes, no terminator
    Truncated,     // the length, the bytes or the terminator run past the payload
    Unterminated,  // the byte after the string is not NUL
  };
  // string = integer length L, L bytes, NUL; L = 0xFFFF is a null string.
  StringStatus string(std::string_view& value);
  // Raw bytes (a body chunk).
  std::optional<std::string_view> bytes(size_t n);

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

std::string_view describe(Reader::StringStatus status);

void append_byte(std::string& out, uint8_t value);
void append_integer(std::string& out, uint16_t value);
// Length, bytes, NUL. Returns false and appends nothing when the value is
// longer than kMaxStringLength.
bool append_string(std::string& out, std::string_view value);
void append_null_string(std::string& out);
// Encoded size of a string: 2 + length + 1.
inline size_t string_size(std::string_view value) {
  return 2 + value.size() + 1;
}

// Packet framing on the output side. begin_packet appends the 4-byte header
// with a zero length and returns where the packet starts; end_packet writes
// the payload length. end_packet returns false, removing the packet again,
// when it does not fit in `packet_size`.
enum class Direction : uint8_t {
  ToContainer,  // 0x12 0x34: what a web server sends
  ToWebServer,  // "AB": what a container sends
};
size_t begin_packet(std::string& out, Direction direction);
bool end_packet(std::string& out, size_t start, size_t packet_size);

// ---- The container's messages ----

// CPONG: 41 42 00 01 09.
void append_cpong(std::string& out);
// GET_BODY_CHUNK asking for up to `requested` bytes: 41 42 00 03 06 HH LL.
void append_get_body_chunk(std::string& out, uint16_t requested);
// END_RESPONSE: 41 42 00 02 05 reuse.
void append_end_response(std::string& out, bool reuse);
// SEND_BODY_CHUNK packets carrying `data`, each with at most
// packet_size - 8 bytes and the trailing NUL mod_proxy_ajp checks for.
// Nothing for empty data (an empty chunk means "flush" to the web server).
void append_send_body(std::string& out, std::string_view data, size_t packet_size);
// An empty SEND_BODY_CHUNK: the web server flushes what it has buffered.
void append_flush(std::string& out);

// SEND_HEADERS for `head`: status (100..599, else 500), reason (the standard
// phrase when empty or unsafe), then the headers, names coded where AJP has a
// code. Dropped: hop-by-hop headers (Connection and the names it lists,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade),
// names that are not tokens, values with CR, LF or NUL (or other controls),
// and headers that do not fit in one packet of `packet_size` bytes (one
// SEND_HEADERS must hold them all). Returns the status written.
int append_send_headers(std::string& out, const ResponseHead& head, size_t packet_size);

}  // namespace gw::ajp
