#include "protocols/scgi_server.h"

#include <algorithm>
#include <string>
#include <unordered_set>

#include "protocols/cgi_params.h"

namespace gw {

namespace {

constexpr size_t kMaxLengthDigits = 8;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A short CGI answer for the web server in front, which passes its status
// on to the client before the connection closes.
std::string error_answer(int status) {
  ResponseHead head;
  head.status = status;
  std::string body = std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n";
  head.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  head.headers.push_back({"Content-Length", std::to_string(body.size())});
  return format_cgi_head(head) + body;
}

}  // namespace

ScgiServerCodec::ScgiServerCodec(const Limits& limits) : limits_(limits) {
  // The whole netstring waits in the connection's input buffer before it is
  // parsed, so it must fit there with its length digits and separators.
  size_t room = limits.input_buffer_bytes > kMaxLengthDigits + 2
                    ? limits.input_buffer_bytes - kMaxLengthDigits - 2
                    : 0;
  max_block_ = std::min(limits.header_bytes, room);
}

std::optional<CodecError> ScgiServerCodec::parse_length(std::string_view in,
                                                        std::optional<size_t>& digits,
                                                        std::optional<size_t>& block) const {
  size_t value = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == ':') {
      if (i == 0) return CodecError{400, "SCGI netstring: no length before ':'"};
      digits = i;
      block = value;
      return std::nullopt;
    }
    if (!is_digit(c)) {
      return CodecError{400, "SCGI netstring: length holds " + quote_for_log(in.substr(i, 1)) +
                                 " (the request must start with \"<length>:\")"};
    }
    if (i == 1 && in[0] == '0') {
      return CodecError{400, "SCGI netstring: length with a leading zero"};
    }
    if (i == kMaxLengthDigits) {
      return CodecError{431, "SCGI netstring: length has more than 8 digits"};
    }
    value = value * 10 + static_cast<size_t>(c - '0');
    if (value > max_block_) {
      return CodecError{431, "SCGI header block of at least " + std::to_string(value) +
                                 " bytes is over the limit of " + std::to_string(max_block_) +
                                 " (limits.header_bytes)"};
    }
  }
  return std::nullopt;  // the length is not complete yet
}

std::optional<CodecError> ScgiServerCodec::parse_block(std::string_view block,
                                                       Request& request) const {
  if (!block.empty() && block.back() != '\0') {
    return CodecError{400, "SCGI header block does not end with NUL"};
  }
  std::vector<Header> vars;
  std::unordered_set<std::string_view> seen;
  size_t pos = 0;
  while (pos < block.size()) {
    // The block ends with NUL, so both finds succeed.
    size_t name_end = block.find('\0', pos);
    std::string_view name = block.substr(pos, name_end - pos);
    if (name_end == block.size() - 1) {
      return CodecError{400, "SCGI header block: " + quote_for_log(name) + " has no value"};
    }
    size_t value_end = block.find('\0', name_end + 1);
    std::string_view value = block.substr(name_end + 1, value_end - name_end - 1);
    pos = value_end + 1;
    if (name.empty()) return CodecError{400, "SCGI header block: an empty name"};
    if (name.size() > limits_.name_bytes) {
      return CodecError{431, "SCGI header " + quote_for_log(name) + " is longer than " +
                                 std::to_string(limits_.name_bytes) + " bytes (limits.name_bytes)"};
    }
    if (value.size() > limits_.value_bytes) {
      return CodecError{431, "SCGI header " + quote_for_log(name) + " has a value over " +
                                 std::to_string(limits_.value_bytes) +
                                 " bytes (limits.value_bytes)"};
    }
    if (vars.size() == limits_.header_count) {
      return CodecError{431, "SCGI header block has more than " +
                                 std::to_string(limits_.header_count) +
                                 " variables (limits.header_count)"};
    }
    if (!seen.insert(name).second) {
      return CodecError{400, "SCGI header " + quote_for_log(name) + " appears twice"};
    }
    vars.push_back(Header{std::string(name), std::string(value)});
  }
  if (vars.empty() || vars.front().name != "CONTENT_LENGTH") {
    return CodecError{400, "SCGI header block does not start with CONTENT_LENGTH"};
  }
  const std::string& length = vars.front().value;
  if (length.empty() || length.find_first_not_of("0123456789") != std::string::npos) {
    return CodecError{400, "SCGI CONTENT_LENGTH " + quote_for_log(length) + " is not a number"};
  }
  bool scgi_one = false;
  for (const auto& v : vars) {
    if (v.name != "SCGI") continue;
    if (v.value != "1")
      return CodecError{400, "SCGI version " + quote_for_log(v.value) + " is not 1"};
    scgi_one = true;
  }
  if (!scgi_one) return CodecError{400, "SCGI header block has no SCGI=1"};
  return request_from_cgi(std::move(vars), Protocol::Scgi, /*strict_content_length=*/true, request);
}

FeedResult ScgiServerCodec::fail(CodecError error, std::string& out) {
  phase_ = Phase::Failed;
  out += error_answer(error.http_status);
  return FeedResult{0, std::move(error)};
}

FeedResult ScgiServerCodec::feed(std::string_view in, std::vector<Event>& events,
                                 std::string& out) {
  if (phase_ == Phase::Head) {
    std::optional<size_t> digits, block_size;
    if (auto err = parse_length(in, digits, block_size)) return fail(std::move(*err), out);
    if (!block_size) return FeedResult{};
    const size_t total = *digits + 1 + *block_size + 1;
    if (in.size() < total) return FeedResult{};
    if (in[total - 1] != ',') {
      return fail(CodecError{400, "SCGI netstring of " + std::to_string(*block_size) +
                                      " bytes is not followed by ','"},
                  out);
    }
    Request request;
    if (auto err = parse_block(in.substr(*digits + 1, *block_size), request)) {
      return fail(std::move(*err), out);
    }
    const uint64_t length = request.content_length.value_or(0);
    if (limits_.max_body_bytes != 0 && length > limits_.max_body_bytes) {
      return fail(CodecError{413, "SCGI CONTENT_LENGTH " + std::to_string(length) +
                                      " is over limits.max_body_bytes (" +
                                      std::to_string(limits_.max_body_bytes) + ")"},
                  out);
    }
    head_only_ = request.method == "HEAD";
    body_left_ = length;
    phase_ = Phase::Body;
    events.push_back(RequestStarted{1, std::move(request)});
    if (body_left_ == 0) {
      events.push_back(BodyEnd{1});
      phase_ = Phase::Done;
    }
    FeedResult r{total, std::nullopt};
    if (phase_ == Phase::Body && in.size() > total) {
      FeedResult body = feed(in.substr(total), events, out);
      r.consumed += body.consumed;
    }
    return r;
  }
  if (phase_ != Phase::Body || in.empty()) return FeedResult{};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in.size()));
  events.push_back(BodyData{1, in.substr(0, n)});
  body_left_ -= n;
  if (body_left_ == 0) {
    events.push_back(BodyEnd{1});
    phase_ = Phase::Done;
  }
  return FeedResult{n, std::nullopt};
}

void ScgiServerCodec::write_head(StreamId, const ResponseHead& head, std::string& out) {
  if (head_written_ || phase_ == Phase::Failed) return;
  head_written_ = true;
  out += format_cgi_head(head);
}

void ScgiServerCodec::write_body(StreamId, std::string_view data, std::string& out) {
  if (!head_written_ || head_only_ || phase_ == Phase::Failed) return;
  out.append(data);
}

bool ScgiServerCodec::write_end(StreamId, std::string&) {
  return false;  // SCGI ends a response by closing the connection
}

}  // namespace gw
