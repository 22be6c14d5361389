#include "protocols/fastcgi_client.h"

#include <algorithm>
#include <cstring>

namespace gw {

namespace fcgi {

void encode_begin_request(std::string& out, StreamId id, uint16_t role, bool keep_conn) {
  std::string body;
  body.push_back(static_cast<char>(role >> 8));
  body.push_back(static_cast<char>(role & 0xFF));
  body.push_back(static_cast<char>(keep_conn ? FCGI_KEEP_CONN : 0));
  body.append(5, '\0');  // reserved
  append_record(out, FCGI_BEGIN_REQUEST, id, body);
}

void encode_params(std::string& out, StreamId id, const std::vector<Header>& vars) {
  std::string stream;
  for (const auto& v : vars) append_pair(stream, v.name, v.value);
  append_stream_data(out, FCGI_PARAMS, id, stream);
  append_record(out, FCGI_PARAMS, id, {});
}

void encode_stdin(std::string& out, StreamId id, std::string_view data) {
  append_stream_data(out, FCGI_STDIN, id, data);
}

void encode_stdin_end(std::string& out, StreamId id) {
  append_record(out, FCGI_STDIN, id, {});
}

void encode_abort_request(std::string& out, StreamId id) {
  append_record(out, FCGI_ABORT_REQUEST, id, {});
}

void encode_get_values(std::string& out, const std::vector<std::string>& names) {
  std::string body;
  for (const auto& name : names) {
    std::string pair;
    // A name that cannot fit in one record cannot be asked for.
    if (!append_pair(pair, name, {}) || pair.size() > kMaxContentLength) continue;
    if (body.size() + pair.size() > kMaxContentLength) {
      append_record(out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, body);
      body.clear();
    }
    body += pair;
  }
  if (!body.empty() || names.empty()) {
    append_record(out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, body);
  }
}

}  // namespace fcgi

using namespace fcgi;

namespace {

CodecError protocol_error(std::string what) {
  return CodecError{502, std::move(what)};
}

uint32_t u32_at(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i + k])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

}  // namespace

FastCgiClientDecoder::FastCgiClientDecoder(const Limits& limits) : limits_(limits) {}

FeedResult FastCgiClientDecoder::feed(std::string_view in, std::vector<ClientEvent>& events) {
  if (error_) return FeedResult{0, error_};
  std::optional<CodecError> err;
  size_t pos = framer_.feed(
      in, err, [&](const RecordHeader& h) { return on_header(h); },
      [&](std::string_view data) -> std::optional<CodecError> {
        if (!streaming_) {
          record_buf_.append(data);
        } else if (record_.type == FCGI_STDOUT) {
          events.push_back(Stdout{record_.request_id, data});
        } else {
          events.push_back(Stderr{record_.request_id, data});
        }
        return std::nullopt;
      },
      [&] { return on_record_end(events); });
  fed_bytes_ += pos;
  if (err) error_ = err;
  return FeedResult{pos, std::move(err)};
}

std::optional<CodecError> FastCgiClientDecoder::on_header(const RecordHeader& header) {
  record_ = header;
  record_bytes_ += FCGI_HEADER_LEN + header.content_length + header.padding_length;
  record_buf_.clear();
  streaming_ = false;
  if (record_.version != FCGI_VERSION_1) {
    return protocol_error("FastCGI record version " + std::to_string(record_.version) +
                          " (only 1 is supported)");
  }
  bool management = record_.request_id == FCGI_NULL_REQUEST_ID;
  std::string type_text =
      std::string(record_type_name(record_.type)) + " (type " + std::to_string(record_.type) + ")";
  switch (record_.type) {
    case FCGI_STDOUT:
    case FCGI_STDERR:
      streaming_ = true;
      if (!management) return std::nullopt;
      break;
    case FCGI_END_REQUEST:
      if (management) break;
      if (record_.content_length != kEndRequestBodyLen) {
        return protocol_error("FCGI_END_REQUEST with " + std::to_string(record_.content_length) +
                              " content bytes (expected 8)");
      }
      return std::nullopt;
    case FCGI_UNKNOWN_TYPE:
      if (!management) break;
      if (record_.content_length != kUnknownTypeBodyLen) {
        return protocol_error("FCGI_UNKNOWN_TYPE with " + std::to_string(record_.content_length) +
                              " content bytes (expected 8)");
      }
      return std::nullopt;
    case FCGI_GET_VALUES_RESULT:
      if (management) return std::nullopt;
      break;
    default:
      return protocol_error("FastCGI application sent " + type_text);
  }
  return protocol_error("FastCGI application sent " + type_text + " with request id " +
                        std::to_string(record_.request_id));
}

std::optional<CodecError> FastCgiClientDecoder::on_record_end(std::vector<ClientEvent>& events) {
  StreamId id = record_.request_id;
  switch (record_.type) {
    case FCGI_STDOUT:
      if (record_.content_length == 0) events.push_back(StdoutEnd{id});
      return std::nullopt;
    case FCGI_END_REQUEST:
      events.push_back(
          EndRequest{id, u32_at(record_buf_, 0), static_cast<uint8_t>(record_buf_[4])});
      return std::nullopt;
    case FCGI_UNKNOWN_TYPE:
      events.push_back(UnknownTypeReply{static_cast<uint8_t>(record_buf_[0])});
      return std::nullopt;
    case FCGI_GET_VALUES_RESULT: {
      PairDecoder decoder(PairDecoder::Bounds{limits_.name_bytes, limits_.value_bytes,
                                              kMaxContentLength, limits_.header_count});
      GetValuesResult result;
      auto err = decoder.feed(record_buf_, result.pairs);
      if (!err && !decoder.at_pair_boundary()) {
        err = protocol_error("FCGI_GET_VALUES_RESULT ends inside a name-value pair");
      }
      if (err) return CodecError{502, err->what};
      events.push_back(std::move(result));
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace gw
