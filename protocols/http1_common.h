// Pieces shared by the HTTP/1.1 server codec (http1_server) and the upstream
// client (http1_client), after RFC 9112 (message syntax) and RFC 9110
// (semantics). Everything is strict on purpose: gatewayd sits between a front
// end and an application, and every leniency where two parsers can disagree on
// where a message ends is a request-smuggling hole.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/limits.h"

namespace gw::http1 {

// ---- Character classes (RFC 9110 5.5, 5.6.2; RFC 3986) ----

namespace detail {
enum CharClass : uint8_t {
  kTchar = 1,       // token character
  kFieldChar = 2,   // field-value / reason-phrase: VCHAR, obs-text, SP, HTAB
  kTargetChar = 4,  // request-target: visible ASCII except '#' (no fragment on the wire)
  kHostChar = 8,    // Host / authority: unreserved, sub-delims, ':', '[', ']', '%'
};

constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    std::string_view tchar_extra = "!#$%&'*+-.^_`|~";
    if (alnum || tchar_extra.find(static_cast<char>(c)) != std::string_view::npos) v |= kTchar;
    if ((c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t') v |= kFieldChar;
    if (c >= 0x21 && c <= 0x7e && c != '#') v |= kTargetChar;
    std::string_view host_extra = "-._~!$&'()*+,;=:[]%";
    if (alnum || host_extra.find(static_cast<char>(c)) != std::string_view::npos) v |= kHostChar;
    t[static_cast<size_t>(c)] = v;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kCharClasses = make_char_classes();

inline bool has_class(char c, uint8_t cls) {
  return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}
}  // namespace detail

inline bool is_tchar(char c) {
  return detail::has_class(c, detail::kTchar);
}
inline bool is_field_char(char c) {
  return detail::has_class(c, detail::kFieldChar);
}
inline bool is_target_char(char c) {
  return detail::has_class(c, detail::kTargetChar);
}
inline bool is_host_char(char c) {
  return detail::has_class(c, detail::kHostChar);
}

bool is_token(std::string_view s);        // non-empty, all tchar
bool is_field_value(std::string_view s);  // all field characters (may be empty)
bool is_host_value(std::string_view s);   // Host field value / URI authority (may be empty)

// Connection, Keep-Alive, Proxy-Connection, TE, Upgrade, Transfer-Encoding:
// the fields each codec manages itself and never forwards.
bool is_hop_by_hop(std::string_view name);

std::string_view trim_ows(std::string_view s);

// ---- Problems ----

// What went wrong while parsing: the HTTP status to answer (0: nothing) and a
// short fixed text naming the problem (safe to show to the peer).
struct Problem {
  int status = 0;
  std::string_view what;
  explicit operator bool() const { return status != 0; }
};

// "what: \"value\"" for the error log, the value cut short and escaped so
// that a hostile byte cannot forge log lines.
std::string describe(std::string_view what, std::string_view value);

// ---- Lines and header fields ----

// Splits a message head into CRLF-terminated lines, incrementally. The line
// being read always starts at in[0] (its predecessors were consumed), so the
// reader remembers how much of it it has scanned and never rescans: feeding a
// head one byte at a time stays linear.
class LineReader {
 public:
  enum class Status : uint8_t { Line, NeedMore, TooLong, BareLf };

  // Looks for a complete line at the start of `in`. On Line, `line` is its
  // content without CRLF and `size` its length with CRLF. TooLong: the
  // content exceeds `max_content` (reported as soon as that is certain).
  // BareLf: a LF not preceded by CR (RFC 9112 2.2 allows rejecting it; we do,
  // so that we never disagree with a front end about line ends).
  Status next(std::string_view in, size_t max_content, std::string_view& line, size_t& size);
  void reset() { scanned_ = 0; }

 private:
  size_t scanned_ = 0;
};

struct FieldLine {
  std::string_view name;
  std::string_view value;  // OWS trimmed
};

// Parses one field line (content without CRLF): field-name token, ':' with no
// whitespace before it, OWS-trimmed value of field characters. A line
// starting with SP/HTAB (obs-fold), a bare CR or a NUL is rejected (400);
// a name over limits.name_bytes or a value over limits.value_bytes is 431.
Problem parse_field_line(std::string_view line, const Limits& limits, FieldLine& field);

// ---- Numbers and field values ----

// 1*DIGIT with no sign, space or other character; nullopt on overflow.
std::optional<uint64_t> parse_decimal(std::string_view s);

// Folds one Content-Length field value ("5" or the list form "5, 5") into
// `length`. Values that differ, here or from an earlier field line, or that
// are not plain decimals, are an error: that is the classic smuggling shape.
// Identical duplicates are allowed (RFC 9112 6.3 item 5).
Problem merge_content_length(std::string_view value, std::optional<uint64_t>& length);

// Transfer-Encoding, over every field line of a message: only "chunked",
// exactly once, is supported.
struct TransferCoding {
  bool seen = false;
  unsigned chunked = 0;  // how often "chunked" was listed
  bool other = false;    // a coding we do not implement (gzip, ...)
  bool empty = false;    // a field line with no coding at all

  void add(std::string_view value);
  bool is_chunked() const { return seen && chunked == 1 && !other && !empty; }
};

// Connection options that matter to us, over every Connection field line.
struct ConnectionOptions {
  bool close = false;
  bool keep_alive = false;

  void add(std::string_view value);
};

// Expect (RFC 9110 10.1.1), over every Expect field line.
struct Expectations {
  bool continue_100 = false;  // "100-continue"
  bool other = false;         // anything else: 417

  void add(std::string_view value);
};

// ---- Chunked transfer coding (RFC 9112 7.1) ----

// Decodes a chunked body incrementally. Data comes out as views into the
// input; framing (sizes, extensions, CRLFs, trailers) is validated and
// dropped. Every piece of state is bounded: at most 16 hex digits of size,
// kMaxExtensionBytes of chunk extensions per chunk, trailers within the
// header limits.
class ChunkedDecoder {
 public:
  static constexpr size_t kMaxSizeDigits = 16;
  static constexpr size_t kMaxExtensionBytes = 4096;

  // max_total: largest decoded body accepted (0: no limit), else 413.
  ChunkedDecoder(const Limits& limits, uint64_t max_total);

  struct Step {
    size_t consumed = 0;    // bytes of `in` used, data included
    std::string_view data;  // decoded body bytes, a view into `in` (may be empty)
    bool done = false;      // the last chunk and the trailers are complete
    Problem problem;
  };

  // Consumes framing up to and including at most one run of data. Call again
  // with the rest while consumed > 0 and not done. Never consumes past the
  // end of the body.
  Step step(std::string_view in);

  bool done() const { return state_ == State::Done; }
  void reset();

 private:
  enum class State : uint8_t {
    Size,
    ExtensionStart,  // BWS before ';'
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
  };

  Problem on_size_byte(char c);
  Problem on_trailer_byte(char c);
  Problem start_data();

  Limits limits_;
  uint64_t max_total_;
  State state_ = State::Size;
  uint64_t size_ = 0;
  size_t digits_ = 0;
  size_t extension_bytes_ = 0;
  uint64_t remaining_ = 0;
  uint64_t total_ = 0;
  size_t trailer_bytes_ = 0;
  size_t trailer_count_ = 0;
  size_t name_bytes_ = 0;
  size_t value_bytes_ = 0;
};

// ---- Writing ----

void append_decimal(std::string& out, uint64_t value);
// One chunk: hex size, CRLF, data, CRLF. Empty data writes nothing (an empty
// chunk would end the body).
void append_chunk(std::string& out, std::string_view data);
// The last chunk with no trailers: "0\r\n\r\n".
void append_last_chunk(std::string& out);
// "HTTP/1.1 404 Not Found\r\n"
void append_status_line(std::string& out, int status, std::string_view reason);
void append_field(std::string& out, std::string_view name, std::string_view value);

}  // namespace gw::http1
