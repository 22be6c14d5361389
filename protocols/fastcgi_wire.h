// FastCGI 1.0 wire format, shared by the application side (fastcgi_server)
// and the web-server side (fastcgi_client): constants, the 8-byte record
// header, and name-value pairs (docs: protocols.md section 1).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/codec.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw::fcgi {

// Record header (spec 1.2).
inline constexpr size_t FCGI_HEADER_LEN = 8;
inline constexpr uint8_t FCGI_VERSION_1 = 1;
inline constexpr uint16_t FCGI_NULL_REQUEST_ID = 0;
inline constexpr size_t kMaxContentLength = 65535;

// Record types (spec 1.3).
inline constexpr uint8_t FCGI_BEGIN_REQUEST = 1;
inline constexpr uint8_t FCGI_ABORT_REQUEST = 2;
inline constexpr uint8_t FCGI_END_REQUEST = 3;
inline constexpr uint8_t FCGI_PARAMS = 4;
inline constexpr uint8_t FCGI_STDIN = 5;
inline constexpr uint8_t FCGI_STDOUT = 6;
inline constexpr uint8_t FCGI_STDERR = 7;
inline constexpr uint8_t FCGI_DATA = 8;
inline constexpr uint8_t FCGI_GET_VALUES = 9;
inline constexpr uint8_t FCGI_GET_VALUES_RESULT = 10;
inline constexpr uint8_t FCGI_UNKNOWN_TYPE = 11;
inline constexpr uint8_t FCGI_MAXTYPE = FCGI_UNKNOWN_TYPE;

// BEGIN_REQUEST body (spec 1.5).
inline constexpr uint16_t FCGI_RESPONDER = 1;
inline constexpr uint16_t FCGI_AUTHORIZER = 2;
inline constexpr uint16_t FCGI_FILTER = 3;
inline constexpr uint8_t FCGI_KEEP_CONN = 1;
inline constexpr size_t kBeginRequestBodyLen = 8;

// END_REQUEST protocolStatus (spec 1.6).
inline constexpr uint8_t FCGI_REQUEST_COMPLETE = 0;
inline constexpr uint8_t FCGI_CANT_MPX_CONN = 1;
inline constexpr uint8_t FCGI_OVERLOADED = 2;
inline constexpr uint8_t FCGI_UNKNOWN_ROLE = 3;
inline constexpr size_t kEndRequestBodyLen = 8;
inline constexpr size_t kUnknownTypeBodyLen = 8;

// GET_VALUES names (spec 1.8).
inline constexpr std::string_view FCGI_MAX_CONNS = "FCGI_MAX_CONNS";
inline constexpr std::string_view FCGI_MAX_REQS = "FCGI_MAX_REQS";
inline constexpr std::string_view FCGI_MPXS_CONNS = "FCGI_MPXS_CONNS";

// The largest length a name-value pair can carry (4-byte form, top bit clear).
inline constexpr uint64_t kMaxPairLength = 0x7FFFFFFF;

std::string_view record_type_name(uint8_t type);

struct RecordHeader {
  uint8_t version = FCGI_VERSION_1;
  uint8_t type = 0;
  uint16_t request_id = 0;
  uint16_t content_length = 0;
  uint8_t padding_length = 0;
};

// `bytes` holds exactly FCGI_HEADER_LEN bytes. The reserved byte is ignored.
RecordHeader decode_header(const std::array<uint8_t, FCGI_HEADER_LEN>& bytes);
void append_header(std::string& out, const RecordHeader& h);

// Splits a byte stream into records, resumable at any byte; both sides'
// decoders share it. For each record it calls, in order: on_header(header)
// once its 8 bytes are in, on_content(bytes) as content arrives (any number
// of pieces), on_end() after the last content byte. Padding is skipped.
// Each callback returns std::optional<CodecError>; an error stops the feed at
// once and is final (FastCGI has no way to resynchronise).
class RecordFramer {
 public:
  template <class OnHeader, class OnContent, class OnEnd>
  size_t feed(std::string_view in, std::optional<CodecError>& err, OnHeader&& on_header,
              OnContent&& on_content, OnEnd&& on_end) {
    size_t pos = 0;
    while (pos < in.size() && !err) {
      switch (state_) {
        case State::Header: {
          size_t n = std::min(in.size() - pos, FCGI_HEADER_LEN - header_len_);
          std::memcpy(header_buf_.data() + header_len_, in.data() + pos, n);
          header_len_ += n;
          pos += n;
          if (header_len_ < FCGI_HEADER_LEN) break;
          header_len_ = 0;
          RecordHeader h = decode_header(header_buf_);
          content_left_ = h.content_length;
          padding_left_ = h.padding_length;
          err = on_header(h);
          if (!err && content_left_ == 0) err = on_end();
          state_ = content_left_ > 0   ? State::Content
                   : padding_left_ > 0 ? State::Padding
                                       : State::Header;
          break;
        }
        case State::Content: {
          size_t n = std::min(in.size() - pos, content_left_);
          std::string_view data = in.substr(pos, n);
          pos += n;
          content_left_ -= n;
          err = on_content(data);
          if (!err && content_left_ == 0) {
            err = on_end();
            state_ = padding_left_ > 0 ? State::Padding : State::Header;
          }
          break;
        }
        case State::Padding: {
          size_t n = std::min(in.size() - pos, padding_left_);
          pos += n;
          padding_left_ -= n;
          if (padding_left_ == 0) state_ = State::Header;
          break;
        }
      }
    }
    return pos;
  }

 private:
  enum class State : uint8_t { Header, Content, Padding };
  State state_ = State::Header;
  std::array<uint8_t, FCGI_HEADER_LEN> header_buf_{};
  size_t header_len_ = 0;
  size_t content_left_ = 0;
  size_t padding_left_ = 0;
};

// One record with the given content (at most kMaxContentLength bytes) and
// no padding.
void append_record(std::string& out, uint8_t type, uint16_t id, std::string_view content);
// A stream's content split into records of at most kMaxContentLength bytes.
// Empty `data` appends nothing: an empty record would end the stream.
void append_stream_data(std::string& out, uint8_t type, uint16_t id, std::string_view data);

void append_end_request(std::string& out, uint16_t id, uint32_t app_status,
                        uint8_t protocol_status);
void append_unknown_type(std::string& out, uint8_t type);

// Name-value pair encoding (spec 1.4): each length in 1 byte iff <= 127,
// else 4 bytes with the top bit set. Returns false, appending nothing, when a
// length exceeds kMaxPairLength.
bool append_pair(std::string& out, std::string_view name, std::string_view value);

// Incremental decoder for a name-value stream: the concatenated content of
// PARAMS records (or one GET_VALUES record). A pair, or a length prefix, may
// straddle feed() calls. Every length is checked against the limits before
// anything is allocated, in 64-bit arithmetic (CVE-2025-23016: a 32-bit
// nameLen + valueLen wrapped around in libfcgi).
class PairDecoder {
 public:
  struct Bounds {
    uint64_t name_bytes = 1024;
    uint64_t value_bytes = 64 * 1024;
    uint64_t total_bytes = 64 * 1024;  // raw stream bytes, length prefixes included
    uint64_t count = 200;
  };

  explicit PairDecoder(const Bounds& bounds) : bounds_(bounds) {}
  explicit PairDecoder(const Limits& limits);

  // Decodes all of `in`, appending each completed pair to `out`. After an
  // error the decoder is unusable.
  std::optional<CodecError> feed(std::string_view in, std::vector<Header>& out);
  // True when no pair is partially decoded: the stream may end here.
  bool at_pair_boundary() const { return state_ == State::NameLength && prefix_len_ == 0; }
  uint64_t total_bytes() const { return total_; }

 private:
  enum class State : uint8_t { NameLength, ValueLength, Name, Value };

  size_t feed_length(std::string_view in);
  std::optional<CodecError> on_lengths_known();
  std::optional<CodecError> on_pair_complete(std::vector<Header>& out);

  Bounds bounds_;
  State state_ = State::NameLength;
  std::array<uint8_t, 4> prefix_{};
  size_t prefix_len_ = 0;
  uint64_t name_len_ = 0;
  uint64_t value_len_ = 0;
  std::string name_;
  std::string value_;
  uint64_t total_ = 0;
  uint64_t pairs_ = 0;
};

// Validates a pair as the spec demands: names free of NUL, '=' and control
// characters (and not empty); values free of NUL.
std::optional<CodecError> check_pair(std::string_view name, std::string_view value);

}  // namespace gw::fcgi
