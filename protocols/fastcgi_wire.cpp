#include "protocols/fastcgi_wire.h"

#include <algorithm>

#include "protocols/cgi_params.h"

namespace gw::fcgi {

namespace {

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_u32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xFF));
  out.push_back(static_cast<char>((v >> 16) & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_pair_length(std::string& out, uint64_t len) {
  if (len <= 127) {
    out.push_back(static_cast<char>(len));
  } else {
    put_u32(out, static_cast<uint32_t>(len) | 0x80000000u);
  }
}

CodecError too_large(std::string what) {
  return CodecError{431, std::move(what)};
}
CodecError malformed(std::string what) {
  return CodecError{400, std::move(what)};
}

}  // namespace

std::string_view record_type_name(uint8_t type) {
  switch (type) {
    case FCGI_BEGIN_REQUEST:
      return "FCGI_BEGIN_REQUEST";
    case FCGI_ABORT_REQUEST:
      return "FCGI_ABORT_REQUEST";
    case FCGI_END_REQUEST:
      return "FCGI_END_REQUEST";
    case FCGI_PARAMS:
      return "FCGI_PARAMS";
    case FCGI_STDIN:
      return "FCGI_STDIN";
    case FCGI_STDOUT:
      return "FCGI_STDOUT";
    case FCGI_STDERR:
      return "FCGI_STDERR";
    case FCGI_DATA:
      return "FCGI_DATA";
    case FCGI_GET_VALUES:
      return "FCGI_GET_VALUES";
    case FCGI_GET_VALUES_RESULT:
      return "FCGI_GET_VALUES_RESULT";
    case FCGI_UNKNOWN_TYPE:
      return "FCGI_UNKNOWN_TYPE";
    default:
      return "unknown record type";
  }
}

RecordHeader decode_header(const std::array<uint8_t, FCGI_HEADER_LEN>& b) {
  RecordHeader h;
  h.version = b[0];
  h.type = b[1];
  h.request_id = static_cast<uint16_t>((b[2] << 8) | b[3]);
  h.content_length = static_cast<uint16_t>((b[4] << 8) | b[5]);
  h.padding_length = b[6];
  return h;
}

void append_header(std::string& out, const RecordHeader& h) {
  out.push_back(static_cast<char>(h.version));
  out.push_back(static_cast<char>(h.type));
  put_u16(out, h.request_id);
  put_u16(out, h.content_length);
  out.push_back(static_cast<char>(h.padding_length));
  out.push_back('\0');  // reserved
}

void append_record(std::string& out, uint8_t type, uint16_t id, std::string_view content) {
  RecordHeader h;
  h.type = type;
  h.request_id = id;
  h.content_length = static_cast<uint16_t>(std::min(content.size(), kMaxContentLength));
  append_header(out, h);
  out.append(content.substr(0, h.content_length));
}

void append_stream_data(std::string& out, uint8_t type, uint16_t id, std::string_view data) {
  while (!data.empty()) {
    size_t n = std::min(data.size(), kMaxContentLength);
    append_record(out, type, id, data.substr(0, n));
    data.remove_prefix(n);
  }
}

void append_end_request(std::string& out, uint16_t id, uint32_t app_status,
                        uint8_t protocol_status) {
  append_header(out, RecordHeader{FCGI_VERSION_1, FCGI_END_REQUEST, id, kEndRequestBodyLen, 0});
  put_u32(out, app_status);
  out.push_back(static_cast<char>(protocol_status));
  out.append(3, '\0');  // reserved
}

void append_unknown_type(std::string& out, uint8_t type) {
  append_header(out, RecordHeader{FCGI_VERSION_1, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID,
                                  kUnknownTypeBodyLen, 0});
  out.push_back(static_cast<char>(type));
  out.append(7, '\0');  // reserved
}

bool append_pair(std::string& out, std::string_view name, std::string_view value) {
  if (name.size() > kMaxPairLength || value.size() > kMaxPairLength) return false;
  put_pair_length(out, name.size());
  put_pair_length(out, value.size());
  out.append(name);
  out.append(value);
  return true;
}

namespace {

std::optional<CodecError> check_value(std::string_view name, std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    return malformed("FastCGI param " + quote_for_log(name) + " has a value containing NUL");
  }
  return std::nullopt;
}

}  // namespace

std::optional<CodecError> check_pair(std::string_view name, std::string_view value) {
  if (name.empty()) return malformed("FastCGI param with an empty name");
  if (!valid_cgi_name(name)) {
    return malformed("FastCGI param name " + quote_for_log(name) +
                     " contains NUL, '=' or a control character");
  }
  return check_value(name, value);
}

PairDecoder::PairDecoder(const Limits& limits)
    : bounds_{limits.name_bytes, limits.value_bytes, limits.header_bytes, limits.header_count} {}

std::optional<CodecError> PairDecoder::feed(std::string_view in, std::vector<Header>& out) {
  total_ += in.size();
  if (total_ > bounds_.total_bytes) {
    return too_large("FastCGI params exceed " + std::to_string(bounds_.total_bytes) +
                     " bytes (limits.header_bytes)");
  }
  while (!in.empty()) {
    switch (state_) {
      case State::NameLength:
      case State::ValueLength: {
        in.remove_prefix(feed_length(in));
        if (state_ == State::Name) {
          if (auto err = on_lengths_known()) return err;
          // A pair with an empty value is complete once its name is in;
          // on_lengths_known() already rejected empty names.
        }
        break;
      }
      case State::Name: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(in.size(), name_len_ - name_.size()));
        name_.append(in.substr(0, n));
        in.remove_prefix(n);
        if (name_.size() == name_len_) {
          if (auto err = check_pair(name_, {})) return err;
          state_ = State::Value;
          if (value_len_ == 0) {
            if (auto err = on_pair_complete(out)) return err;
          }
        }
        break;
      }
      case State::Value: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(in.size(), value_len_ - value_.size()));
        value_.append(in.substr(0, n));
        in.remove_prefix(n);
        if (value_.size() == value_len_) {
          if (auto err = on_pair_complete(out)) return err;
        }
        break;
      }
    }
  }
  return std::nullopt;
}

// Consumes bytes of the current length prefix; when it is complete, stores
// the length and advances the state. Returns the bytes consumed.
size_t PairDecoder::feed_length(std::string_view in) {
  size_t used = 0;
  while (used < in.size()) {
    prefix_[prefix_len_++] = static_cast<uint8_t>(in[used++]);
    bool one_byte = (prefix_[0] & 0x80) == 0;
    if (!one_byte && prefix_len_ < 4) continue;
    uint64_t len = one_byte ? prefix_[0]
                            : (uint64_t{prefix_[0] & 0x7Fu} << 24) | (uint64_t{prefix_[1]} << 16) |
                                  (uint64_t{prefix_[2]} << 8) | uint64_t{prefix_[3]};
    prefix_len_ = 0;
    if (state_ == State::NameLength) {
      name_len_ = len;
      state_ = State::ValueLength;
    } else {
      value_len_ = len;
      state_ = State::Name;
      break;
    }
  }
  return used;
}

std::optional<CodecError> PairDecoder::on_lengths_known() {
  if (pairs_ + 1 > bounds_.count) {
    return too_large("FastCGI params: more than " + std::to_string(bounds_.count) +
                     " pairs (limits.header_count)");
  }
  if (name_len_ == 0) return malformed("FastCGI param with an empty name");
  if (name_len_ > bounds_.name_bytes) {
    return too_large("FastCGI param name of " + std::to_string(name_len_) + " bytes, over " +
                     std::to_string(bounds_.name_bytes) + " (limits.name_bytes)");
  }
  if (value_len_ > bounds_.value_bytes) {
    return too_large("FastCGI param value of " + std::to_string(value_len_) + " bytes, over " +
                     std::to_string(bounds_.value_bytes) + " (limits.value_bytes)");
  }
  // Both lengths are < 2^31 here, so the 64-bit sum cannot wrap.
  if (name_len_ + value_len_ > bounds_.total_bytes) {
    return too_large("FastCGI params exceed " + std::to_string(bounds_.total_bytes) +
                     " bytes (limits.header_bytes)");
  }
  name_.clear();
  value_.clear();
  name_.reserve(static_cast<size_t>(name_len_));
  value_.reserve(static_cast<size_t>(value_len_));
  return std::nullopt;
}

std::optional<CodecError> PairDecoder::on_pair_complete(std::vector<Header>& out) {
  // The name was checked as soon as it was complete (feed); only the value
  // is new.
  if (auto err = check_value(name_, value_)) return err;
  out.push_back(Header{std::move(name_), std::move(value_)});
  name_.clear();
  value_.clear();
  ++pairs_;
  state_ = State::NameLength;
  return std::nullopt;
}

}  // namespace gw::fcgi
