#include "protocols/http1_server.h"

#include <utility>

#include "protocols/path.h"

namespace gw {

using http1::Problem;

namespace {

constexpr StreamId kStream = 1;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3); only 1.0 and 1.1 are served.
Problem parse_version(std::string_view v, bool& http11) {
  bool shaped = v.size() == 8 && v.starts_with("HTTP/") && v[5] >= '0' && v[5] <= '9' &&
                v[6] == '.' && v[7] >= '0' && v[7] <= '9';
  if (!shaped) return {400, "malformed HTTP version"};
  if (v == "HTTP/1.1") {
    http11 = true;
  } else if (v == "HTTP/1.0") {
    http11 = false;
  } else {
    return {505, "HTTP version not supported"};
  }
  return {};
}

}  // namespace

Http1ServerCodec::Http1ServerCodec(const Limits& limits)
    : limits_(limits), chunked_(limits, limits.max_body_bytes) {}

// ---- Request parsing ----

FeedResult Http1ServerCodec::feed(std::string_view in, std::vector<Event>& events,
                                  std::string& out) {
  FeedResult result;
  size_t pos = 0;
  bool progress = true;
  while (progress) {
    std::string_view rest = in.substr(pos);
    size_t used = 0;
    switch (state_) {
      case State::RequestLine:
        progress = on_request_line(rest, used);
        break;
      case State::Fields:
        progress = on_field_line(rest, used, events, out);
        break;
      case State::Body:
        progress = on_body(rest, used, events);
        break;
      case State::ChunkedBody:
        progress = on_chunked_body(rest, used, events);
        break;
      default:
        progress = false;
        break;
    }
    pos += used;
  }
  result.consumed = pos;
  if (state_ == State::Failed) {
    if (!error_written_) write_error_response(out);
    error_written_ = true;
    result.error = error_;
  }
  return result;
}

bool Http1ServerCodec::on_request_line(std::string_view in, size_t& used) {
  std::string_view line;
  size_t size = 0;
  switch (lines_.next(in, limits_.request_line_bytes, line, size)) {
    case http1::LineReader::Status::NeedMore:
      return false;
    case http1::LineReader::Status::TooLong:
      fail({414, "request line too long (limits.request_line_bytes)"},
           http1::describe("request line too long (limits.request_line_bytes)", in));
      return false;
    case http1::LineReader::Status::BareLf:
      fail({400, "bare LF"}, http1::describe("bare LF in request line", in));
      return false;
    case http1::LineReader::Status::Line:
      break;
  }
  used = size;
  if (line.empty()) return true;  // RFC 9112 2.2: ignore empty lines before a request
  head_ = Head{};
  head_.bytes = size;
  Problem problem = parse_request_line(line);
  if (!problem && head_.bytes > limits_.header_bytes)
    problem = {431, "request head too large (limits.header_bytes)"};
  if (problem) {
    fail(problem, http1::describe(problem.what, line));
    return false;
  }
  state_ = State::Fields;
  return true;
}

Problem Http1ServerCodec::parse_request_line(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version: exactly one SP
  // each, as RFC 9112 3 asks; no lenient whitespace splitting.
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return {400, "malformed request line"};
  std::string_view method = line.substr(0, sp1);
  std::string_view rest = line.substr(sp1 + 1);
  size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return {400, "malformed request line"};
  std::string_view target = rest.substr(0, sp2);
  if (!http1::is_token(method)) return {400, "invalid method"};
  if (Problem p = parse_version(rest.substr(sp2 + 1), head_.http11)) return p;
  head_.request.method = std::string(method);
  head_.is_head = method == "HEAD";
  return parse_target(target);
}

Problem Http1ServerCodec::parse_target(std::string_view target) {
  if (target.empty()) return {400, "empty request target"};
  for (char c : target) {
    if (!http1::is_target_char(c)) return {400, "invalid character in request target"};
  }
  Request& req = head_.request;
  std::string_view origin = target;
  if (target == "*") {
    if (req.method != "OPTIONS") return {400, "'*' target on a method other than OPTIONS"};
    req.target = "*";
    req.path = "*";
    req.path_info = "*";
    return {};
  }
  if (target.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): the authority replaces any Host field.
    size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return {400, "invalid request target"};
    std::string_view scheme = target.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
      return {400, "unsupported URI scheme"};
    }
    std::string_view rest = target.substr(scheme_end + 3);
    size_t authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    // is_host_value excludes '@': no userinfo.
    if (authority.empty() || !http1::is_host_value(authority)) {
      return {400, "invalid authority in request target"};
    }
    head_.absolute_form = true;
    head_.authority = std::string(authority);
    origin =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  }
  size_t question = origin.find('?');
  std::string_view path = origin.substr(0, question);
  std::optional<std::string> decoded = percent_decode(path);
  if (!decoded) return {400, "bad percent-encoding in path"};
  if (decoded->empty()) decoded = "/";  // "http://host" and "http://host?q"
  if (question != std::string_view::npos) req.query = std::string(origin.substr(question + 1));
  if (path.empty()) {
    req.target = "/";
    req.target += origin;
  } else {
    req.target = std::string(origin);
  }
  req.path = std::move(*decoded);
  req.path_info = req.path;
  return {};
}

bool Http1ServerCodec::on_field_line(std::string_view in, size_t& used, std::vector<Event>& events,
                                     std::string& out) {
  size_t left = limits_.header_bytes > head_.bytes ? limits_.header_bytes - head_.bytes : 0;
  size_t max_content = left > 2 ? left - 2 : 0;
  std::string_view line;
  size_t size = 0;
  switch (lines_.next(in, max_content, line, size)) {
    case http1::LineReader::Status::NeedMore:
      return false;
    case http1::LineReader::Status::TooLong:
      fail({431, "request head too large (limits.header_bytes)"},
           "request head over " + std::to_string(limits_.header_bytes) +
               " bytes (limits.header_bytes)");
      return false;
    case http1::LineReader::Status::BareLf:
      fail({400, "bare LF"}, http1::describe("bare LF in header line", in.substr(0, 80)));
      return false;
    case http1::LineReader::Status::Line:
      break;
  }
  used = size;
  head_.bytes += size;
  if (head_.bytes > limits_.header_bytes) {
    fail({431, "request head too large (limits.header_bytes)"},
         "request head over " + std::to_string(limits_.header_bytes) +
             " bytes (limits.header_bytes)");
    return false;
  }
  if (line.empty()) {
    finish_head(events, out);
    return true;
  }
  if (++head_.fields > limits_.header_count) {
    fail({431, "too many header fields (limits.header_count)"},
         "more than " + std::to_string(limits_.header_count) +
             " header fields (limits.header_count)");
    return false;
  }
  http1::FieldLine field;
  Problem problem = http1::parse_field_line(line, limits_, field);
  if (!problem) problem = add_field(field);
  if (problem) {
    fail(problem, http1::describe(problem.what, line));
    return false;
  }
  return true;
}

Problem Http1ServerCodec::add_field(const http1::FieldLine& field) {
  std::string_view name = field.name;
  std::string_view value = field.value;
  std::vector<Header>& headers = head_.request.headers;
  if (iequals(name, "Host")) {
    // RFC 9112 3.2: more than one Host, or an invalid one, is a 400.
    if (++head_.hosts > 1) return {400, "duplicate Host"};
    if (!http1::is_host_value(value)) return {400, "invalid Host"};
  } else if (iequals(name, "Content-Length")) {
    bool first = !head_.content_length.has_value();
    if (Problem p = http1::merge_content_length(value, head_.content_length)) return p;
    // Forward one normalised value; identical duplicates are folded.
    if (first) {
      std::string normal;
      http1::append_decimal(normal, *head_.content_length);
      headers.push_back({std::string(name), std::move(normal)});
    }
    return {};
  } else if (iequals(name, "Transfer-Encoding")) {
    head_.coding.add(value);
    return {};
  } else if (iequals(name, "Connection")) {
    head_.connection.add(value);
    return {};
  } else if (iequals(name, "Expect")) {
    // Answered here, so not forwarded: a backend must not answer it again.
    head_.expect.add(value);
    return {};
  } else if (http1::is_hop_by_hop(name)) {
    return {};
  }
  if (headers.empty()) headers.reserve(16);
  headers.push_back({std::string(name), std::string(value)});
  return {};
}

Problem Http1ServerCodec::check_framing() {
  if (head_.http11 && head_.hosts == 0 && !head_.absolute_form) return {400, "missing Host"};
  if (head_.coding.seen) {
    // RFC 9112 6.1 and 6.3: each of these makes the body length unreliable,
    // so the only safe answer is an error and a closed connection.
    if (!head_.http11) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
    if (head_.content_length) return {400, "both Content-Length and Transfer-Encoding"};
    if (head_.coding.other) return {501, "unsupported transfer coding"};
    if (!head_.coding.is_chunked()) return {400, "invalid Transfer-Encoding"};
  }
  if (head_.content_length && limits_.max_body_bytes != 0 &&
      *head_.content_length > limits_.max_body_bytes) {
    return {413, "body too large (limits.max_body_bytes)"};
  }
  if (head_.http11 && head_.expect.other) return {417, "unsupported expectation"};
  return {};
}

void Http1ServerCodec::finish_head(std::vector<Event>& events, std::string& out) {
  if (Problem p = check_framing()) {
    fail(p, std::string(p.what) + " (" + head_.request.method + " " + head_.request.target + ")");
    return;
  }
  Request& req = head_.request;
  if (head_.absolute_form) {
    std::erase_if(req.headers, [](const Header& h) { return iequals(h.name, "Host"); });
    req.headers.push_back({"Host", std::move(head_.authority)});
  }
  req.origin = Protocol::Http;
  req.server_protocol = head_.http11 ? "HTTP/1.1" : "HTTP/1.0";
  bool chunked = head_.coding.is_chunked();
  // No Content-Length and no Transfer-Encoding: a request body of length 0
  // (RFC 9112 6.3 item 7).
  uint64_t length = head_.content_length.value_or(0);
  req.content_length = chunked ? std::nullopt : std::optional<uint64_t>(length);
  keep_alive_ = !head_.connection.close && (head_.http11 || head_.connection.keep_alive);
  bool has_body = chunked || length > 0;
  // RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 and when there is no body.
  if (has_body && head_.http11 && head_.expect.continue_100) out += kContinue;
  response_ = Response{};
  events.push_back(RequestStarted{kStream, std::move(req)});
  if (chunked) {
    chunked_.reset();
    state_ = State::ChunkedBody;
  } else if (has_body) {
    body_remaining_ = length;
    state_ = State::Body;
  } else {
    end_body(events);
  }
}

bool Http1ServerCodec::on_body(std::string_view in, size_t& used, std::vector<Event>& events) {
  if (in.empty()) return false;
  size_t n = in.size();
  if (body_remaining_ < n) n = static_cast<size_t>(body_remaining_);
  events.push_back(BodyData{kStream, in.substr(0, n)});
  body_remaining_ -= n;
  used = n;
  if (body_remaining_ == 0) end_body(events);
  return true;
}

bool Http1ServerCodec::on_chunked_body(std::string_view in, size_t& used,
                                       std::vector<Event>& events) {
  if (in.empty()) return false;
  http1::ChunkedDecoder::Step step = chunked_.step(in);
  used = step.consumed;
  if (step.problem) {
    fail(step.problem, std::string(step.problem.what) + " in chunked request body");
    return false;
  }
  if (!step.data.empty()) events.push_back(BodyData{kStream, step.data});
  if (step.done) end_body(events);
  return step.consumed > 0;
}

void Http1ServerCodec::end_body(std::vector<Event>& events) {
  events.push_back(BodyEnd{kStream});
  state_ = State::AwaitResponse;
}

void Http1ServerCodec::fail(Problem problem, std::string detail) {
  error_ = CodecError{problem.status, std::move(detail)};
  error_problem_ = problem;
  state_ = State::Failed;
}

void Http1ServerCodec::write_error_response(std::string& out) {
  // Once a response head went out, an error response would be read as part
  // of it: the caller closes the connection and the client sees a cut.
  if (response_.head_written) return;
  int status = error_problem_.status;
  std::string_view reason = reason_phrase(status);
  std::string body;
  body.reserve(reason.size() + error_problem_.what.size() + 3);
  body += reason;
  body += ": ";
  body += error_problem_.what;
  body += "\n";
  http1::append_status_line(out, status, reason);
  http1::append_field(out, "Content-Type", "text/plain");
  out += "Content-Length: ";
  http1::append_decimal(out, body.size());
  out += "\r\nConnection: close\r\n\r\n";
  if (!head_.is_head) out += body;
}

// ---- Response writing ----

bool Http1ServerCodec::request_active() const {
  return state_ == State::Body || state_ == State::ChunkedBody || state_ == State::AwaitResponse;
}

void Http1ServerCodec::write_head(StreamId /*stream*/, const ResponseHead& head, std::string& out) {
  if (!request_active() || response_.head_written) return;
  Response& resp = response_;
  resp.head_written = true;
  int status = head.status >= 100 && head.status <= 599 ? head.status : 500;
  bool interim = status < 200;
  resp.no_body = head_.is_head || interim || status == 204 || status == 304;
  std::optional<uint64_t> length;
  bool length_valid = true;
  for (const Header& h : head.headers) {
    if (iequals(h.name, "Content-Length") && http1::merge_content_length(h.value, length)) {
      length_valid = false;
    }
  }
  if (!length_valid) length.reset();
  // A response that starts before the request body is complete ends the
  // connection: the unread rest of the body cannot be told from a request.
  bool keep = keep_alive_ && !closing_ && state_ == State::AwaitResponse && !interim;
  if (!resp.no_body) {
    if (length) {
      resp.remaining = length;
    } else if (head_.http11) {
      resp.chunked = true;
    } else {
      keep = false;  // close-delimited
    }
  }
  resp.keep_alive = keep;

  std::string_view reason = head.reason;
  if (reason.empty() || !http1::is_field_value(reason)) reason = reason_phrase(status);
  size_t estimate = 128 + reason.size();
  for (const Header& h : head.headers) estimate += h.name.size() + h.value.size() + 4;
  out.reserve(out.size() + estimate);
  http1::append_status_line(out, status, reason);
  for (const Header& h : head.headers) {
    if (http1::is_hop_by_hop(h.name) || iequals(h.name, "Content-Length")) continue;
    // A backend must not be able to split the response or add lines.
    if (!http1::is_token(h.name) || !http1::is_field_value(h.value)) continue;
    http1::append_field(out, h.name, h.value);
  }
  // RFC 9110 8.6: never a Content-Length on 1xx or 204.
  if (length && !interim && status != 204) {
    out += "Content-Length: ";
    http1::append_decimal(out, *length);
    out += "\r\n";
  }
  if (resp.chunked) out += "Transfer-Encoding: chunked\r\n";
  if (!keep) {
    out += "Connection: close\r\n";
  } else if (!head_.http11) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void Http1ServerCodec::write_body(StreamId /*stream*/, std::string_view data, std::string& out) {
  Response& resp = response_;
  if (!request_active() || !resp.head_written || resp.no_body || data.empty()) return;
  if (resp.chunked) {
    http1::append_chunk(out, data);
  } else if (resp.remaining) {
    // Never more than announced: the excess would be read as the next
    // response. Drop it and close instead.
    size_t n = data.size();
    if (*resp.remaining < n) {
      n = static_cast<size_t>(*resp.remaining);
      resp.keep_alive = false;
    }
    out.append(data.substr(0, n));
    *resp.remaining -= n;
  } else {
    out.append(data);
  }
}

uint64_t Http1ServerCodec::raw_body_allowance(StreamId /*stream*/) const {
  const Response& resp = response_;
  if (!request_active() || !resp.head_written || resp.no_body || resp.chunked) return 0;
  return resp.remaining.value_or(0);
}

uint64_t Http1ServerCodec::take_raw_body(StreamId stream, uint64_t n) {
  uint64_t allowed = raw_body_allowance(stream);
  if (n > allowed) {
    // As in write_body: never more than announced.
    if (response_.remaining) response_.keep_alive = false;
    n = allowed;
  }
  if (n > 0) *response_.remaining -= n;
  return n;
}

bool Http1ServerCodec::write_end(StreamId /*stream*/, std::string& out) {
  if (!request_active()) return false;
  Response& resp = response_;
  if (!resp.head_written) {
    finish_exchange(false);
    return false;
  }
  if (resp.chunked) http1::append_last_chunk(out);
  if (resp.remaining && *resp.remaining > 0) resp.keep_alive = false;  // short body
  bool keep = resp.keep_alive;
  finish_exchange(keep);
  return keep;
}

bool Http1ServerCodec::write_abort(StreamId /*stream*/, std::string& /*out*/) {
  if (request_active()) finish_exchange(false);
  return false;
}

void Http1ServerCodec::finish_exchange(bool keep_alive) {
  if (!keep_alive) {
    state_ = State::Closed;
    return;
  }
  state_ = State::RequestLine;
  head_ = Head{};
  response_ = Response{};
  lines_.reset();
}

}  // namespace gw
