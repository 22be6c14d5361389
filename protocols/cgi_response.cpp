#include "protocols/cgi_response.h"

#include "protocols/http1_common.h"

namespace gw {

namespace {

constexpr int kBadGateway = 502;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Drops leading digits from `s`; false when there were none.
bool skip_digits(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  s.remove_prefix(n);
  return n > 0;
}

// "HTTP/1.1 ", "HTTP/1.0 ", "HTTP/2 ": the prefix of a status line, as nph
// scripts write one. Returns what follows the space, or nullopt.
std::optional<std::string_view> status_line_rest(std::string_view line) {
  constexpr std::string_view kPrefix = "HTTP/";
  if (!line.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = line.substr(kPrefix.size());
  if (!skip_digits(rest)) return std::nullopt;
  if (rest.starts_with('.')) {
    rest.remove_prefix(1);
    if (!skip_digits(rest)) return std::nullopt;
  }
  if (!rest.starts_with(' ')) return std::nullopt;
  return rest.substr(1);
}

// RFC 3875 6.2.2: a local redirect is an abs-path. "//host/x" is a
// network-path reference to another host, so it is a client redirect.
bool is_local_path(std::string_view location) {
  return location.starts_with('/') && !location.starts_with("//");
}

}  // namespace

CgiResponseParser::CgiResponseParser(const Limits& limits) : limits_(limits) {}

CgiFeedResult CgiResponseParser::fail(int status, std::string what) {
  state_ = State::Failed;
  error_ = CodecError{status, std::move(what)};
  partial_.clear();
  return CgiFeedResult{0, false, error_};
}

CgiFeedResult CgiResponseParser::feed(std::string_view in) {
  if (state_ == State::Done) return CgiFeedResult{0, true, std::nullopt};
  if (state_ == State::Failed) return CgiFeedResult{0, false, error_};
  size_t pos = 0;
  while (pos < in.size()) {
    size_t lf = in.find('\n', pos);
    size_t end = lf == std::string_view::npos ? in.size() : lf + 1;
    // Checked before anything is copied, so partial_ never outgrows the limit.
    if (end - pos > limits_.header_bytes - head_bytes_) {
      return fail(kBadGateway, "header block from backend larger than " +
                                   std::to_string(limits_.header_bytes) + " bytes");
    }
    head_bytes_ += end - pos;
    if (lf == std::string_view::npos) {
      partial_.append(in.substr(pos));
      return CgiFeedResult{in.size(), false, std::nullopt};
    }
    std::string_view line = in.substr(pos, lf - pos);
    if (!partial_.empty()) {
      partial_.append(line);
      line = partial_;
    }
    pos = end;
    // CRLF or a bare LF (RFC 3875 6.1: NL); a CR anywhere else is refused
    // by the field checks below.
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) {
      partial_.clear();
      finish_head();
      return CgiFeedResult{pos, true, std::nullopt};
    }
    std::optional<std::string> bad = on_line(line);
    partial_.clear();  // `line` may point into it: only now is it dead
    if (bad) return fail(kBadGateway, "malformed header from backend: " + *bad);
  }
  return CgiFeedResult{pos, false, std::nullopt};
}

std::optional<std::string> CgiResponseParser::on_line(std::string_view line) {
  if (++lines_ > limits_.header_count) {
    return "more than " + std::to_string(limits_.header_count) + " header lines";
  }
  if (lines_ == 1) {
    if (auto rest = status_line_rest(line)) return set_status(*rest, "bad status line");
  }
  // The same field rules as HTTP/1.1 responses: token name, no space before
  // ':', no obs-fold, no CR, NUL or other control byte in the value. What
  // we accept is forwarded to clients, so anything two parsers could read
  // differently is refused.
  http1::FieldLine field;
  if (http1::Problem p = http1::parse_field_line(line, limits_, field)) {
    return http1::describe(p.what, line);
  }
  return on_header(field.name, field.value);
}

std::optional<std::string> CgiResponseParser::on_header(std::string_view name,
                                                        std::string_view value) {
  if (iequals(name, "Status")) return set_status(value, "bad Status");
  if (iequals(name, "Location")) {
    // Two Locations make the redirect target ambiguous between front ends.
    if (location_seen_) return http1::describe("more than one Location", value);
    if (value.empty()) return "empty Location";
    location_seen_ = true;
  }
  head_.headers.push_back(Header{std::string(name), std::string(value)});
  return std::nullopt;
}

// `v` is "NNN" or "NNN reason" (RFC 3875 6.3.3). nginx checks only that the
// first three bytes are digits; we also insist that a reason is separated.
std::optional<std::string> CgiResponseParser::set_status(std::string_view v, std::string_view bad) {
  if (status_seen_) return http1::describe("more than one status", v);
  status_seen_ = true;
  bool digits = v.size() >= 3 && is_digit(v[0]) && is_digit(v[1]) && is_digit(v[2]);
  if (!digits || (v.size() > 3 && v[3] != ' ' && v[3] != '\t')) return http1::describe(bad, v);
  int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
  std::string_view reason = http1::trim_ows(v.substr(3));
  // A status line's reason has not been through the field checks.
  if (code < 100 || !http1::is_field_value(reason)) return http1::describe(bad, v);
  head_.status = code;
  head_.reason = std::string(reason);
  return std::nullopt;
}

void CgiResponseParser::finish_head() {
  state_ = State::Done;
  if (status_seen_) return;
  const std::string* location = head_.header("Location");
  if (location == nullptr) {
    head_.status = 200;
  } else if (is_local_path(*location)) {
    local_redirect_ = *location;
    head_.status = 0;  // no response of its own: the caller redirects internally
  } else {
    head_.status = 302;
  }
}

}  // namespace gw
