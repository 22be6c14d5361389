#include "protocols/http1_common.h"

#include <charconv>
#include <cstring>

#include "protocols/request.h"

namespace gw::http1 {

namespace {

constexpr size_t kDescribeMax = 64;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Calls fn(element) for each non-empty element of a comma-separated list
// (RFC 9110 5.6.1: empty elements are ignored). Returns whether any was found.
template <class Fn>
bool for_each_element(std::string_view value, Fn&& fn) {
  bool any = false;
  while (true) {
    size_t comma = value.find(',');
    std::string_view element = trim_ows(value.substr(0, comma));
    if (!element.empty()) {
      any = true;
      fn(element);
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return any;
}

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_field_value(std::string_view s) {
  for (char c : s) {
    if (!is_field_char(c)) return false;
  }
  return true;
}

bool is_host_value(std::string_view s) {
  for (char c : s) {
    if (!is_host_char(c)) return false;
  }
  return true;
}

bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "TE");
    case 7:
      return iequals(name, "Upgrade");
    case 10:
      return iequals(name, "Connection") || iequals(name, "Keep-Alive");
    case 16:
      return iequals(name, "Proxy-Connection");
    case 17:
      return iequals(name, "Transfer-Encoding");
    default:
      return false;
  }
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

std::string describe(std::string_view what, std::string_view value) {
  static const char kHex[] = "0123456789abcdef";
  std::string s(what);
  s += ": \"";
  for (size_t i = 0; i < value.size() && i < kDescribeMax; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      s.push_back(static_cast<char>(c));
    } else {
      s += "\\x";
      s.push_back(kHex[c >> 4]);
      s.push_back(kHex[c & 15]);
    }
  }
  if (value.size() > kDescribeMax) s += "...";
  s.push_back('"');
  return s;
}

// ---- LineReader ----

LineReader::Status LineReader::next(std::string_view in, size_t max_content, std::string_view& line,
                                    size_t& size) {
  if (in.empty()) return Status::NeedMore;
  size_t from = scanned_ < in.size() ? scanned_ : 0;
  const void* hit = std::memchr(in.data() + from, '\n', in.size() - from);
  if (hit == nullptr) {
    scanned_ = in.size();
    // Even if the next byte were the LF, the content (less a final CR)
    // would already be too long.
    if (in.size() > max_content + 1) return Status::TooLong;
    return Status::NeedMore;
  }
  size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - in.data());
  scanned_ = 0;
  if (lf == 0 || in[lf - 1] != '\r') return Status::BareLf;
  if (lf - 1 > max_content) return Status::TooLong;
  line = in.substr(0, lf - 1);
  size = lf + 1;
  return Status::Line;
}

Problem parse_field_line(std::string_view line, const Limits& limits, FieldLine& field) {
  if (!line.empty() && is_ows(line.front())) {
    // obs-fold: RFC 9112 5.2 lets a server reject it; unfolding it is where
    // parsers disagree.
    return {400, "obsolete line folding"};
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return {400, "header line without colon"};
  std::string_view name = line.substr(0, colon);
  if (name.empty()) return {400, "empty header name"};
  if (name.size() > limits.name_bytes) return {431, "header name too long (limits.name_bytes)"};
  for (char c : name) {
    // Whitespace before the colon included: RFC 9112 5.1 requires a 400.
    if (!is_tchar(c)) return {400, "invalid character in header name"};
  }
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (value.size() > limits.value_bytes) return {431, "header value too long (limits.value_bytes)"};
  // Catches bare CR, NUL and other controls.
  if (!is_field_value(value)) return {400, "invalid character in header value"};
  field.name = name;
  field.value = value;
  return {};
}

// ---- Numbers and field values ----

std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

Problem merge_content_length(std::string_view value, std::optional<uint64_t>& length) {
  Problem problem;
  bool any = for_each_element(value, [&](std::string_view element) {
    if (problem) return;
    std::optional<uint64_t> v = parse_decimal(element);
    if (!v) {
      problem = {400, "invalid Content-Length"};
    } else if (length && *length != *v) {
      problem = {400, "conflicting Content-Length values"};
    } else {
      length = v;
    }
  });
  if (!any) return {400, "invalid Content-Length"};
  return problem;
}

void TransferCoding::add(std::string_view value) {
  seen = true;
  bool any = for_each_element(value, [&](std::string_view element) {
    if (iequals(element, "chunked")) {
      ++chunked;
    } else {
      other = true;  // includes "chunked;param" and codings after chunked
    }
  });
  if (!any) empty = true;
}

void ConnectionOptions::add(std::string_view value) {
  for_each_element(value, [&](std::string_view element) {
    if (iequals(element, "close")) close = true;
    if (iequals(element, "keep-alive")) keep_alive = true;
  });
}

void Expectations::add(std::string_view value) {
  for_each_element(value, [&](std::string_view element) {
    if (iequals(element, "100-continue")) {
      continue_100 = true;
    } else {
      other = true;
    }
  });
}

// ---- ChunkedDecoder ----

ChunkedDecoder::ChunkedDecoder(const Limits& limits, uint64_t max_total)
    : limits_(limits), max_total_(max_total) {}

void ChunkedDecoder::reset() {
  state_ = State::Size;
  size_ = 0;
  digits_ = 0;
  extension_bytes_ = 0;
  remaining_ = 0;
  total_ = 0;
  trailer_bytes_ = 0;
  trailer_count_ = 0;
  name_bytes_ = 0;
  value_bytes_ = 0;
}

Problem ChunkedDecoder::start_data() {
  if (size_ > UINT64_MAX - total_) return {400, "chunked body size overflows"};
  total_ += size_;
  if (max_total_ != 0 && total_ > max_total_)
    return {413, "body too large (limits.max_body_bytes)"};
  remaining_ = size_;
  size_ = 0;
  digits_ = 0;
  state_ = State::Data;
  return {};
}

Problem ChunkedDecoder::on_size_byte(char c) {
  switch (state_) {
    case State::Size: {
      int v = hex_digit(c);
      if (v >= 0) {
        // 16 digits fill a uint64_t exactly, so the shift cannot overflow.
        if (digits_ == kMaxSizeDigits) return {400, "chunk size has too many digits"};
        size_ = (size_ << 4) | static_cast<uint64_t>(v);
        ++digits_;
        return {};
      }
      if (digits_ == 0) return {400, "bad chunk size"};
      if (c == '\r') {
        state_ = State::SizeLf;
      } else if (c == ';') {
        state_ = State::Extension;
      } else if (is_ows(c)) {
        state_ = State::ExtensionStart;
      } else {
        return {400, "bad chunk size"};
      }
      extension_bytes_ = 0;
      return {};
    }
    case State::ExtensionStart:
      if (c == ';') {
        state_ = State::Extension;
      } else if (!is_ows(c)) {
        return {400, "bad chunk size"};
      }
      break;
    case State::Extension:
      // Extensions are tolerated, not interpreted: any field characters up
      // to the CR, bounded so that a flood of them cannot cost much.
      if (c == '\r') {
        state_ = State::SizeLf;
        return {};
      }
      if (!is_field_char(c)) return {400, "bad chunk extension"};
      break;
    default:
      return {400, "bad chunk framing"};
  }
  if (++extension_bytes_ > kMaxExtensionBytes) return {400, "chunk extension too long"};
  return {};
}

Problem ChunkedDecoder::on_trailer_byte(char c) {
  if (++trailer_bytes_ > limits_.header_bytes)
    return {431, "trailers too large (limits.header_bytes)"};
  switch (state_) {
    case State::TrailerStart:
      if (c == '\r') {
        state_ = State::EndLf;
      } else if (is_ows(c)) {
        return {400, "obsolete line folding in trailer"};
      } else if (is_tchar(c)) {
        if (++trailer_count_ > limits_.header_count)
          return {431, "too many trailer fields (limits.header_count)"};
        name_bytes_ = 1;
        state_ = State::TrailerName;
      } else {
        return {400, "invalid trailer field"};
      }
      return {};
    case State::TrailerName:
      if (c == ':') {
        value_bytes_ = 0;
        state_ = State::TrailerValue;
      } else if (!is_tchar(c)) {
        return {400, "invalid character in trailer name"};
      } else if (++name_bytes_ > limits_.name_bytes) {
        return {431, "trailer name too long (limits.name_bytes)"};
      }
      return {};
    case State::TrailerValue:
      if (c == '\r') {
        state_ = State::TrailerLf;
      } else if (!is_field_char(c)) {
        return {400, "invalid character in trailer value"};
      } else if (++value_bytes_ > limits_.value_bytes) {
        return {431, "trailer value too long (limits.value_bytes)"};
      }
      return {};
    case State::TrailerLf:
      if (c != '\n') return {400, "bare CR in trailer"};
      state_ = State::TrailerStart;
      return {};
    default:
      return {400, "bad chunk framing"};
  }
}

ChunkedDecoder::Step ChunkedDecoder::step(std::string_view in) {
  Step step;
  size_t i = 0;
  while (i < in.size() && state_ != State::Done) {
    char c = in[i];
    switch (state_) {
      case State::Size:
      case State::ExtensionStart:
      case State::Extension:
        step.problem = on_size_byte(c);
        break;
      case State::SizeLf:
        if (c != '\n') {
          step.problem = {400, "bad chunk size line"};
        } else if (size_ == 0 && digits_ > 0) {
          state_ = State::TrailerStart;
        } else {
          step.problem = start_data();
        }
        break;
      case State::Data: {
        size_t n = in.size() - i;
        if (remaining_ < n) n = static_cast<size_t>(remaining_);
        step.data = in.substr(i, n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::DataCr;
        step.consumed = i + n;
        return step;
      }
      case State::DataCr:
        if (c != '\r') step.problem = {400, "chunk data longer than its size"};
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (c != '\n') step.problem = {400, "bad CRLF after chunk data"};
        state_ = State::Size;
        break;
      case State::EndLf:
        if (c != '\n') step.problem = {400, "bad end of chunked body"};
        state_ = State::Done;
        break;
      default:
        step.problem = on_trailer_byte(c);
        break;
    }
    if (step.problem) break;
    ++i;
  }
  step.consumed = i;
  step.done = state_ == State::Done;
  return step;
}

// ---- Writing ----

void append_decimal(std::string& out, uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;  // 24 bytes always hold a uint64_t
  out.append(buf, static_cast<size_t>(end - buf));
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, data.size(), 16);
  (void)ec;
  out.append(buf, static_cast<size_t>(end - buf));
  out += "\r\n";
  out += data;
  out += "\r\n";
}

void append_last_chunk(std::string& out) {
  out += "0\r\n\r\n";
}

void append_status_line(std::string& out, int status, std::string_view reason) {
  out += "HTTP/1.1 ";
  append_decimal(out, static_cast<uint64_t>(status));
  out.push_back(' ');
  out += reason;
  out += "\r\n";
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace gw::http1
