#include "protocols/http1_client.h"

#include <utility>

namespace gw {

using http1::ClientEvent;
using http1::Problem;

namespace {

constexpr int kUpstreamError = 502;
// Interim responses before the final one; more is a misbehaving upstream.
constexpr unsigned kMaxInterim = 16;

bool valid_request_target(std::string_view target) {
  if (target.empty() || (target.front() != '/' && target != "*")) return false;
  for (char c : target) {
    if (!http1::is_target_char(c)) return false;
  }
  return true;
}

}  // namespace

// ---- Request encoding ----

namespace http1 {

bool encode_request_head(std::string& out, std::string_view method, std::string_view target,
                         const std::vector<Header>& headers, std::optional<uint64_t> content_length,
                         bool has_body) {
  if (!is_token(method) || !valid_request_target(target)) return false;
  size_t estimate = method.size() + target.size() + 64;
  for (const Header& h : headers) estimate += h.name.size() + h.value.size() + 4;
  out.reserve(out.size() + estimate);
  out += method;
  out.push_back(' ');
  out += target;
  out += " HTTP/1.1\r\n";
  for (const Header& h : headers) {
    if (is_hop_by_hop(h.name) || iequals(h.name, "Content-Length") || iequals(h.name, "Expect")) {
      continue;
    }
    // Values can come from FastCGI or AJP params, which may hold any byte:
    // a CR or LF here would let them inject a second request upstream.
    if (!is_token(h.name) || !is_field_value(h.value)) continue;
    append_field(out, h.name, h.value);
  }
  if (content_length && (*content_length > 0 || has_body)) {
    out += "Content-Length: ";
    append_decimal(out, *content_length);
    out += "\r\n";
  } else if (!content_length && has_body) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  out += "\r\n";
  return true;
}

void encode_body_chunk(std::string& out, std::string_view data, bool chunked) {
  if (chunked) {
    append_chunk(out, data);
  } else {
    out += data;
  }
}

void encode_body_end(std::string& out, bool chunked) {
  if (chunked) append_last_chunk(out);
}

}  // namespace http1

// ---- Response parsing ----

Http1ResponseParser::Http1ResponseParser(const Limits& limits, std::string_view request_method)
    : limits_(limits), chunked_(limits, 0) {
  reset(request_method);
}

void Http1ResponseParser::reset(std::string_view request_method) {
  head_request_ = request_method == "HEAD";
  state_ = State::StatusLine;
  lines_.reset();
  received_any_ = false;
  interim_count_ = 0;
  body_remaining_ = 0;
  error_.reset();
  start_head();
}

void Http1ResponseParser::start_head() {
  head_ = ResponseHead{};
  http11_ = false;
  head_bytes_ = 0;
  fields_ = 0;
  content_length_.reset();
  coding_ = {};
  connection_ = {};
}

FeedResult Http1ResponseParser::feed(std::string_view in, std::vector<ClientEvent>& events) {
  FeedResult result;
  if (!in.empty() && state_ != State::Done && state_ != State::Failed) received_any_ = true;
  size_t pos = 0;
  bool progress = true;
  while (progress) {
    std::string_view rest = in.substr(pos);
    size_t used = 0;
    switch (state_) {
      case State::StatusLine:
        progress = on_status_line(rest, used);
        break;
      case State::Fields:
        progress = on_field_line(rest, used, events);
        break;
      case State::Body:
        progress = on_body(rest, used, events);
        break;
      case State::ChunkedBody:
        progress = on_chunked_body(rest, used, events);
        break;
      case State::UntilClose:
        if (!rest.empty()) events.emplace_back(http1::ResponseBody{rest});
        used = rest.size();
        progress = false;
        break;
      default:
        progress = false;
        break;
    }
    pos += used;
  }
  result.consumed = pos;
  if (state_ == State::Failed) result.error = error_;
  return result;
}

std::optional<CodecError> Http1ResponseParser::finish_eof(std::vector<ClientEvent>& events) {
  switch (state_) {
    case State::UntilClose:
      end_response(events);
      return std::nullopt;
    case State::Done:
      return std::nullopt;
    case State::Failed:
      return error_;
    case State::StatusLine:
      if (!received_any_) {
        fail("upstream closed the connection before responding");
        return error_;
      }
      break;
    default:
      break;
  }
  fail("upstream closed the connection in the middle of a response");
  return error_;
}

void Http1ResponseParser::fail(std::string detail) {
  error_ = CodecError{kUpstreamError, std::move(detail)};
  state_ = State::Failed;
}

bool Http1ResponseParser::on_status_line(std::string_view in, size_t& used) {
  std::string_view line;
  size_t size = 0;
  size_t max_content = limits_.header_bytes > 2 ? limits_.header_bytes - 2 : 0;
  switch (lines_.next(in, max_content, line, size)) {
    case http1::LineReader::Status::NeedMore:
      return false;
    case http1::LineReader::Status::TooLong:
      fail(http1::describe("upstream status line too long", in));
      return false;
    case http1::LineReader::Status::BareLf:
      fail(http1::describe("bare LF in upstream status line", in));
      return false;
    case http1::LineReader::Status::Line:
      break;
  }
  if (Problem p = parse_status_line(line)) {
    fail(http1::describe(p.what, line));
    return false;
  }
  used = size;
  head_bytes_ = size;
  state_ = State::Fields;
  return true;
}

Problem Http1ResponseParser::parse_status_line(std::string_view line) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]. A
  // missing SP before an empty reason is tolerated: nothing can hide there.
  if (line.size() < 12 || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    return {kUpstreamError, "malformed upstream status line"};
  }
  std::string_view version = line.substr(0, 8);
  if (version == "HTTP/1.1") {
    http11_ = true;
  } else if (version == "HTTP/1.0") {
    http11_ = false;
  } else {
    return {kUpstreamError, "unsupported upstream HTTP version"};
  }
  int status = 0;
  for (char c : line.substr(9, 3)) {
    if (c < '0' || c > '9') return {kUpstreamError, "malformed upstream status code"};
    status = status * 10 + (c - '0');
  }
  if (status < 100 || status > 599) return {kUpstreamError, "invalid upstream status code"};
  std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view();
  if (!http1::is_field_value(reason)) return {kUpstreamError, "invalid upstream reason phrase"};
  head_.status = status;
  head_.reason = std::string(reason);
  return {};
}

bool Http1ResponseParser::on_field_line(std::string_view in, size_t& used,
                                        std::vector<ClientEvent>& events) {
  size_t left = limits_.header_bytes > head_bytes_ ? limits_.header_bytes - head_bytes_ : 0;
  size_t max_content = left > 2 ? left - 2 : 0;
  std::string_view line;
  size_t size = 0;
  switch (lines_.next(in, max_content, line, size)) {
    case http1::LineReader::Status::NeedMore:
      return false;
    case http1::LineReader::Status::TooLong:
      fail("upstream response head over " + std::to_string(limits_.header_bytes) + " bytes");
      return false;
    case http1::LineReader::Status::BareLf:
      fail(http1::describe("bare LF in upstream header line", in.substr(0, 80)));
      return false;
    case http1::LineReader::Status::Line:
      break;
  }
  used = size;
  head_bytes_ += size;
  if (head_bytes_ > limits_.header_bytes) {
    fail("upstream response head over " + std::to_string(limits_.header_bytes) + " bytes");
    return false;
  }
  if (line.empty()) {
    finish_head(events);
    return true;
  }
  if (++fields_ > limits_.header_count) {
    fail("upstream response has more than " + std::to_string(limits_.header_count) + " fields");
    return false;
  }
  http1::FieldLine field;
  Problem problem = http1::parse_field_line(line, limits_, field);
  if (!problem) problem = add_field(field);
  if (problem) {
    fail(http1::describe(std::string("upstream: ") + std::string(problem.what), line));
    return false;
  }
  return true;
}

Problem Http1ResponseParser::add_field(const http1::FieldLine& field) {
  if (iequals(field.name, "Content-Length")) {
    bool first = !content_length_.has_value();
    if (Problem p = http1::merge_content_length(field.value, content_length_)) return p;
    if (first) {
      std::string normal;
      http1::append_decimal(normal, *content_length_);
      head_.headers.push_back({std::string(field.name), std::move(normal)});
    }
    return {};
  }
  if (iequals(field.name, "Transfer-Encoding")) {
    coding_.add(field.value);
    return {};
  }
  if (iequals(field.name, "Connection")) {
    connection_.add(field.value);
    return {};
  }
  if (http1::is_hop_by_hop(field.name)) return {};
  if (head_.headers.empty()) head_.headers.reserve(16);
  head_.headers.push_back({std::string(field.name), std::string(field.value)});
  return {};
}

void Http1ResponseParser::finish_head(std::vector<ClientEvent>& events) {
  int status = head_.status;
  if (status < 200) {
    if (status == 101) {
      fail("upstream switched protocols (101) without being asked");
    } else if (++interim_count_ > kMaxInterim) {
      fail("upstream sent too many interim responses");
    } else {
      start_head();  // 100, 102, 103: read on to the final response
      state_ = State::StatusLine;
    }
    return;
  }
  // RFC 9112 6.1 and 6.3: a response whose length two readers could see
  // differently is refused outright.
  if (coding_.seen) {
    if (!http11_) return fail("upstream sent Transfer-Encoding in an HTTP/1.0 response");
    if (content_length_) return fail("upstream sent both Content-Length and Transfer-Encoding");
    if (!coding_.is_chunked()) return fail("upstream used an unsupported transfer coding");
  }
  bool no_body = head_request_ || status == 204 || status == 304;
  bool keep_alive = !connection_.close && (http11_ || connection_.keep_alive);
  State next = State::Done;
  if (!no_body) {
    if (coding_.is_chunked()) {
      chunked_.reset();
      next = State::ChunkedBody;
    } else if (content_length_) {
      body_remaining_ = *content_length_;
      if (body_remaining_ > 0) next = State::Body;
    } else {
      next = State::UntilClose;
      keep_alive = false;
    }
  }
  events.emplace_back(http1::ResponseStarted{std::move(head_), keep_alive});
  state_ = next;
  if (next == State::Done) end_response(events);
}

bool Http1ResponseParser::on_body(std::string_view in, size_t& used,
                                  std::vector<ClientEvent>& events) {
  if (in.empty()) return false;
  size_t n = in.size();
  if (body_remaining_ < n) n = static_cast<size_t>(body_remaining_);
  events.emplace_back(http1::ResponseBody{in.substr(0, n)});
  body_remaining_ -= n;
  used = n;
  if (body_remaining_ == 0) end_response(events);
  return true;
}

bool Http1ResponseParser::on_chunked_body(std::string_view in, size_t& used,
                                          std::vector<ClientEvent>& events) {
  if (in.empty()) return false;
  http1::ChunkedDecoder::Step step = chunked_.step(in);
  used = step.consumed;
  if (step.problem) {
    fail("upstream: " + std::string(step.problem.what) + " in chunked response body");
    return false;
  }
  if (!step.data.empty()) events.emplace_back(http1::ResponseBody{step.data});
  if (step.done) end_response(events);
  return step.consumed > 0;
}

void Http1ResponseParser::end_response(std::vector<ClientEvent>& events) {
  events.emplace_back(http1::ResponseEnd{});
  state_ = State::Done;
}

}  // namespace gw
