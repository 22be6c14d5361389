// FastCGI 1.0, web-server side: encoders for the records a web server sends,
// and a decoder for what an application answers. Used by the FastCGI
// backend and by tests and tools. docs: protocols.md section 1.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocols/codec.h"
#include "protocols/fastcgi_wire.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw {
namespace fcgi {

// BEGIN_REQUEST{role, flags}.
void encode_begin_request(std::string& out, StreamId id, uint16_t role, bool keep_conn);
// The whole PARAMS stream: the pairs, split into records of at most 65535
// bytes (a pair may straddle two), then the empty PARAMS record. Pairs whose
// name or value exceeds 2^31-1 bytes cannot be encoded and are skipped.
void encode_params(std::string& out, StreamId id, const std::vector<Header>& vars);
// Request body bytes as STDIN records of at most 65535 bytes; nothing for
// empty data (an empty record would end the stream).
void encode_stdin(std::string& out, StreamId id, std::string_view data);
void encode_stdin_end(std::string& out, StreamId id);
void encode_abort_request(std::string& out, StreamId id);
// GET_VALUES on id 0 asking for `names` (empty values); several records if
// the names do not fit in one.
void encode_get_values(std::string& out, const std::vector<std::string>& names);

struct Stdout {
  StreamId id;
  std::string_view data;  // view into feed()'s input
};
struct Stderr {
  StreamId id;
  std::string_view data;  // view into feed()'s input
};
struct StdoutEnd {
  StreamId id;
};
struct EndRequest {
  StreamId id;
  uint32_t app_status;
  uint8_t protocol_status;
};
struct GetValuesResult {
  std::vector<Header> pairs;
};
struct UnknownTypeReply {
  uint8_t type;
};
using ClientEvent =
    std::variant<Stdout, Stderr, StdoutEnd, EndRequest, GetValuesResult, UnknownTypeReply>;

}  // namespace fcgi

// Decodes an application's records, resumable at any byte. STDOUT/STDERR
// content is emitted as it arrives (views into the input); END_REQUEST,
// GET_VALUES_RESULT and UNKNOWN_TYPE are buffered (at most 65535 bytes) until
// complete. feed() consumes all of its input unless it fails; errors (bad
// version, a record type an application must not send, a malformed body)
// are final. An empty STDERR record carries no event. Per-request sequencing
// (STDOUT after END_REQUEST, ...) is the caller's to check.
class FastCgiClientDecoder {
 public:
  explicit FastCgiClientDecoder(const Limits& limits = Limits{});

  FeedResult feed(std::string_view in, std::vector<fcgi::ClientEvent>& events);

  // True when the input fed so far ends exactly between two records: no
  // record, or record header, is partly received. Only then may a connection
  // carry another request after END_REQUEST.
  bool at_record_boundary() const { return fed_bytes_ == record_bytes_; }

 private:
  std::optional<CodecError> on_header(const fcgi::RecordHeader& header);
  std::optional<CodecError> on_record_end(std::vector<fcgi::ClientEvent>& events);

  Limits limits_;
  fcgi::RecordFramer framer_;
  fcgi::RecordHeader record_;
  bool streaming_ = false;  // STDOUT/STDERR: content goes straight out
  std::string record_buf_;
  std::optional<CodecError> error_;
  uint64_t fed_bytes_ = 0;     // input consumed by feed()
  uint64_t record_bytes_ = 0;  // header, content and padding of every record begun
};

}  // namespace gw
