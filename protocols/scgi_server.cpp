// SCGI server codec: netstring header block, CONTENT_LENGTH body, CGI
// response. See scgi_server.h for the rules it enforces.
#include "protocols/scgi_server.h"

#include <algorithm>
#include <string>

#include "protocols/cgi_params.h"

namespace gw {

namespace {

// 8 digits allow a block of 99,999,999 bytes, far above any sane limit, and
// keep the length arithmetic trivially within 64 bits.
constexpr size_t kMaxLengthDigits = 8;
// What surrounds the block in the input buffer: the digits, ':' and ','.
constexpr size_t kFraming = kMaxLengthDigits + 2;
constexpr std::string_view kContentLength = "CONTENT_LENGTH";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

CodecError too_large(std::string what) {
  return CodecError{431, std::move(what)};
}

// A short CGI answer for the web server in front, which passes its status
// on to the client before the connection closes. The precise reason goes to
// our log only: it quotes front-end data.
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
  // parsed, so it must fit there with its length digits and separators;
  // otherwise a full buffer would wait forever for the rest.
  size_t room = limits.input_buffer_bytes > kFraming ? limits.input_buffer_bytes - kFraming : 0;
  max_block_ = std::min(limits.header_bytes, room);
}

FeedResult ScgiServerCodec::feed(std::string_view in, std::vector<Event>& events,
                                 std::string& out) {
  switch (phase_) {
    case Phase::Head:
      return feed_head(in, events, out);
    case Phase::Body:
      return FeedResult{feed_body(in, events), std::nullopt};
    case Phase::Done:
      return FeedResult{};  // one request per connection
    case Phase::Failed:
      break;
  }
  return FeedResult{0, error_};
}

FeedResult ScgiServerCodec::feed_head(std::string_view in, std::vector<Event>& events,
                                      std::string& out) {
  std::optional<LengthPrefix> prefix;
  if (auto err = parse_length(in, prefix)) return fail(std::move(*err), out);
  if (!prefix) return FeedResult{};
  const size_t block_start = prefix->digits + 1;
  const size_t total = block_start + prefix->block + 1;  // bounded by input_buffer_bytes
  if (in.size() < total) return FeedResult{};
  if (in[total - 1] != ',') {
    return fail(CodecError{400, "SCGI netstring of " + std::to_string(prefix->block) +
                                    " bytes is followed by " +
                                    quote_for_log(in.substr(total - 1, 1)) + ", not ','"},
                out);
  }
  std::vector<Header> vars;
  if (auto err = parse_block(in.substr(block_start, prefix->block), vars)) {
    return fail(std::move(*err), out);
  }
  if (auto err = check_scgi_vars(vars)) return fail(std::move(*err), out);
  Request request;
  if (auto err = request_from_cgi(std::move(vars), Protocol::Scgi,
                                  /*strict_content_length=*/true, request)) {
    return fail(std::move(*err), out);
  }
  // Strict mapping: CONTENT_LENGTH was digits, so the length is known.
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
  return FeedResult{total + feed_body(in.substr(total), events), std::nullopt};
}

// Body bytes as they arrive, never more than CONTENT_LENGTH: what follows is
// not part of this request.
size_t ScgiServerCodec::feed_body(std::string_view in, std::vector<Event>& events) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, in.size()));
  if (n > 0) events.push_back(BodyData{1, in.substr(0, n)});
  body_left_ -= n;
  if (body_left_ == 0) {
    events.push_back(BodyEnd{1});
    phase_ = Phase::Done;
  }
  return n;
}

std::optional<CodecError> ScgiServerCodec::parse_length(std::string_view in,
                                                        std::optional<LengthPrefix>& prefix) const {
  size_t value = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == ':' && i > 0) {
      prefix = LengthPrefix{i, value};
      return std::nullopt;
    }
    if (!is_digit(c)) {
      if (i == 0) {
        return CodecError{400, "SCGI request does not start with a netstring length: " +
                                   quote_for_log(in.substr(0, 1))};
      }
      return CodecError{400, "SCGI netstring length " + quote_for_log(in.substr(0, i)) +
                                 " is followed by " + quote_for_log(in.substr(i, 1)) +
                                 ", not a digit or ':'"};
    }
    if (i == 1 && in[0] == '0') {
      return CodecError{400, "SCGI netstring length " + quote_for_log(in.substr(0, 2)) +
                                 "... has a leading zero"};
    }
    if (i == kMaxLengthDigits) {
      return too_large("SCGI netstring length " + quote_for_log(in.substr(0, i + 1)) +
                       "... has more than 8 digits");
    }
    value = value * 10 + static_cast<size_t>(c - '0');  // at most 8 digits: no overflow
    if (value > max_block_) {
      const bool by_buffer = max_block_ < limits_.header_bytes;
      return too_large("SCGI header block of at least " + std::to_string(value) +
                       " bytes is over the limit of " + std::to_string(max_block_) +
                       (by_buffer ? " (limits.input_buffer_bytes)" : " (limits.header_bytes)"));
    }
  }
  return std::nullopt;  // the length is not complete yet
}

// (name NUL value NUL)*, checked against the limits pair by pair.
std::optional<CodecError> ScgiServerCodec::parse_block(std::string_view block,
                                                       std::vector<Header>& vars) const {
  if (!block.empty() && block.back() != '\0') {
    return CodecError{400, "SCGI header block does not end with NUL"};
  }
  // One allocation for the vector, not one per variable as it grows.
  vars.reserve(
      std::min<size_t>(static_cast<size_t>(std::count(block.begin(), block.end(), '\0')) / 2 + 1,
                       limits_.header_count));
  size_t pos = 0;
  while (pos < block.size()) {
    // The block ends with NUL, so the name's terminator is found.
    const size_t name_end = block.find('\0', pos);
    const std::string_view name = block.substr(pos, name_end - pos);
    if (name_end + 1 == block.size()) {
      return CodecError{400, "SCGI header block: " + quote_for_log(name) +
                                 " has no value (an odd number of fields)"};
    }
    const size_t value_end = block.find('\0', name_end + 1);
    const std::string_view value = block.substr(name_end + 1, value_end - name_end - 1);
    pos = value_end + 1;
    if (name.empty()) {
      return CodecError{400, "SCGI header block: variable " + std::to_string(vars.size() + 1) +
                                 " has an empty name"};
    }
    if (!valid_cgi_name(name)) {
      return CodecError{400, "SCGI variable name " + quote_for_log(name) +
                                 " contains '=' or a control character"};
    }
    if (vars.size() == limits_.header_count) {
      return too_large("SCGI header block has more than " + std::to_string(limits_.header_count) +
                       " variables (limits.header_count)");
    }
    if (name.size() > limits_.name_bytes) {
      return too_large("SCGI variable name " + quote_for_log(name) + " is longer than " +
                       std::to_string(limits_.name_bytes) + " bytes (limits.name_bytes)");
    }
    if (value.size() > limits_.value_bytes) {
      return too_large("SCGI variable " + quote_for_log(name) + " has a value of " +
                       std::to_string(value.size()) + " bytes, over " +
                       std::to_string(limits_.value_bytes) + " (limits.value_bytes)");
    }
    // A linear scan allocates nothing (a hash set did, per request), and
    // header_count and header_bytes bound its cost.
    const bool repeated =
        std::any_of(vars.begin(), vars.end(), [name](const Header& v) { return v.name == name; });
    if (repeated) {
      return CodecError{400, "SCGI variable " + quote_for_log(name) + " appears twice"};
    }
    vars.push_back(Header{std::string(name), std::string(value)});
  }
  return std::nullopt;
}

// What SCGI itself requires of the variables (protocol.txt): CONTENT_LENGTH
// first and numeric, SCGI=1 somewhere.
std::optional<CodecError> ScgiServerCodec::check_scgi_vars(const std::vector<Header>& vars) const {
  if (vars.empty()) return CodecError{400, "SCGI header block is empty (no CONTENT_LENGTH)"};
  if (vars.front().name != kContentLength) {
    return CodecError{400, "SCGI header block starts with " + quote_for_log(vars.front().name) +
                               ", not CONTENT_LENGTH"};
  }
  if (!all_digits(vars.front().value)) {
    return CodecError{
        400, "SCGI CONTENT_LENGTH " + quote_for_log(vars.front().value) + " is not a number"};
  }
  auto scgi =
      std::find_if(vars.begin(), vars.end(), [](const Header& v) { return v.name == "SCGI"; });
  if (scgi == vars.end()) return CodecError{400, "SCGI header block has no SCGI variable"};
  if (scgi->value != "1") {
    return CodecError{400, "SCGI version " + quote_for_log(scgi->value) + " is not 1"};
  }
  return std::nullopt;
}

FeedResult ScgiServerCodec::fail(CodecError error, std::string& out) {
  phase_ = Phase::Failed;
  out += error_answer(error.http_status);
  error_ = error;
  return FeedResult{0, std::move(error)};
}

void ScgiServerCodec::write_head(StreamId /*stream*/, const ResponseHead& head, std::string& out) {
  const bool started = phase_ == Phase::Body || phase_ == Phase::Done;
  if (!started || response_ != Response::None) return;
  response_ = Response::Started;
  out += format_cgi_head(head);
}

void ScgiServerCodec::write_body(StreamId /*stream*/, std::string_view data, std::string& out) {
  if (response_ != Response::Started || head_only_) return;
  out.append(data);
}

bool ScgiServerCodec::write_end(StreamId /*stream*/, std::string& /*out*/) {
  response_ = Response::Ended;
  return false;  // SCGI ends a response by closing the connection
}

bool ScgiServerCodec::write_abort(StreamId /*stream*/, std::string& /*out*/) {
  response_ = Response::Ended;
  return false;  // no way to mark the cut but the close itself
}

}  // namespace gw
