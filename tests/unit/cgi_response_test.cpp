#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocols/cgi_response.h"
#include "tests/support/split.h"

using gw::CgiResponseParser;
using gw::Limits;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct Outcome {
  bool done = false;
  std::optional<gw::CodecError> error;
  int status = -1;
  std::string reason;
  Pairs headers;
  std::optional<std::string> local_redirect;
  std::string body;  // what the caller is left with after the head
};

// Plays the caller: appends each piece to its buffer, feeds the buffer,
// drops what was consumed; after done, what is left is body.
Outcome run(const std::vector<std::string_view>& pieces, const Limits& limits = Limits{}) {
  CgiResponseParser parser(limits);
  Outcome o;
  std::string buffer;
  for (auto piece : pieces) {
    buffer.append(piece);
    if (o.done || o.error) continue;
    auto r = parser.feed(buffer);
    REQUIRE(r.consumed <= buffer.size());
    buffer.erase(0, r.consumed);
    o.done = r.done;
    o.error = r.error;
  }
  if (o.done) {
    o.status = parser.head().status;
    o.reason = parser.head().reason;
    for (const auto& h : parser.head().headers) o.headers.emplace_back(h.name, h.value);
    o.local_redirect = parser.local_redirect();
    o.body = buffer;
  }
  return o;
}

// Runs `input` whole, at every two-way split and byte by byte; every way
// must end with the same outcome, which is returned.
Outcome run_all_ways(std::string_view input, const Limits& limits = Limits{}) {
  Outcome whole = run({input}, limits);
  auto same = [&](const Outcome& o) {
    CHECK(o.done == whole.done);
    CHECK(o.error.has_value() == whole.error.has_value());
    if (o.error && whole.error) {
      CHECK(o.error->http_status == whole.error->http_status);
      CHECK(o.error->what == whole.error->what);
    }
    CHECK(o.status == whole.status);
    CHECK(o.reason == whole.reason);
    CHECK(o.headers == whole.headers);
    CHECK(o.local_redirect == whole.local_redirect);
    CHECK(o.body == whole.body);
  };
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    CAPTURE(a.size());
    same(run({a, b}, limits));
  });
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  same(run(bytes, limits));
  return whole;
}

// The head must parse (every way) to exactly this.
void expect_head(std::string_view input, int status, std::string_view reason, const Pairs& headers,
                 std::string_view body = "") {
  CAPTURE(input);
  Outcome o = run_all_ways(input);
  REQUIRE_FALSE(o.error.has_value());
  REQUIRE(o.done);
  CHECK(o.status == status);
  CHECK(o.reason == reason);
  CHECK(o.headers == headers);
  CHECK_FALSE(o.local_redirect.has_value());
  CHECK(o.body == body);
}

// The head must be refused (every way) with 502 and a reason containing `what`.
void expect_error(std::string_view input, std::string_view what, const Limits& limits = Limits{}) {
  CAPTURE(input);
  Outcome o = run_all_ways(input, limits);
  REQUIRE(o.error.has_value());
  CHECK_FALSE(o.done);
  CHECK(o.error->http_status == 502);
  CHECK(o.error->what.find(what) != std::string::npos);
  CAPTURE(o.error->what);
}

}  // namespace

TEST_CASE("cgi_response: Status, headers in order, body after the empty line") {
  expect_head(
      "Status: 404 Not Found\r\n"
      "Content-Type: text/plain\r\n"
      "X-A: 1\r\n"
      "Set-Cookie: a=1\r\n"
      "Set-Cookie: b=2\r\n"
      "\r\n"
      "no such page\r\n\r\nmore",
      404, "Not Found",
      {{"Content-Type", "text/plain"}, {"X-A", "1"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
      "no such page\r\n\r\nmore");
}

TEST_CASE("cgi_response: consumed stops right after the empty line") {
  CgiResponseParser parser;
  std::string_view in = "Content-Type: text/html\r\n\r\n<p>hi</p>";
  auto r = parser.feed(in);
  CHECK(r.done);
  CHECK_FALSE(r.error.has_value());
  CHECK(r.consumed == 27);
  CHECK(in.substr(r.consumed) == "<p>hi</p>");
  // Done is final: nothing more is consumed.
  auto again = parser.feed("<p>more</p>");
  CHECK(again.done);
  CHECK(again.consumed == 0);
  CHECK(parser.done());
}

TEST_CASE("cgi_response: a partial line is consumed and kept") {
  CgiResponseParser parser;
  auto r1 = parser.feed("Content-Ty");
  CHECK(r1.consumed == 10);
  CHECK_FALSE(r1.done);
  auto r2 = parser.feed("pe: text/plain\r");
  CHECK(r2.consumed == 15);
  CHECK_FALSE(r2.done);
  auto r3 = parser.feed("\n\nbody");
  CHECK(r3.consumed == 2);
  CHECK(r3.done);
  REQUIRE(parser.head().headers.size() == 1);
  CHECK(parser.head().headers[0].name == "Content-Type");
  CHECK(parser.head().headers[0].value == "text/plain");
  CHECK(parser.take_head().status == 200);
}

TEST_CASE("cgi_response: bare LF line endings") {
  expect_head("Status: 201 Created\nContent-Type: text/plain\nX-B: 2\n\nbody", 201, "Created",
              {{"Content-Type", "text/plain"}, {"X-B", "2"}}, "body");
  // Mixed endings in one head.
  expect_head("X-A: 1\r\nX-B: 2\n\r\nrest", 200, "", {{"X-A", "1"}, {"X-B", "2"}}, "rest");
}

TEST_CASE("cgi_response: no Status and no Location is 200") {
  expect_head("Content-Type: text/html\r\n\r\n", 200, "", {{"Content-Type", "text/html"}});
  // An empty head (RFC 3875 wants Content-Type, but nothing is ambiguous).
  expect_head("\r\nbody", 200, "", {}, "body");
  expect_head("\n", 200, "", {});
}

TEST_CASE("cgi_response: header values") {
  expect_head("X-Trim: \t a b \t\r\nX-Colon: a:b: c\r\nX-Empty:\r\nX-Tight:v\r\n\r\n", 200, "",
              {{"X-Trim", "a b"}, {"X-Colon", "a:b: c"}, {"X-Empty", ""}, {"X-Tight", "v"}});
  // Bytes above 0x7f and tabs inside a value are kept as sent.
  expect_head("X-Utf8: caf\xc3\xa9\tok\r\n\r\n", 200, "", {{"X-Utf8", "caf\xc3\xa9\tok"}});
  // Token punctuation in names.
  expect_head("X!#$%&'*+-.^_`|~9: v\r\n\r\n", 200, "", {{"X!#$%&'*+-.^_`|~9", "v"}});
}

TEST_CASE("cgi_response: Status variants") {
  expect_head("Status: 200\r\n\r\n", 200, "", {});
  expect_head("Status:  201   Created  \r\n\r\n", 201, "Created", {});
  expect_head("status: 204 No Content\r\n\r\n", 204, "No Content", {});
  expect_head("STATUS: 418 I'm a teapot\r\n\r\n", 418, "I'm a teapot", {});
  expect_head("Status: 100\r\n\r\n", 100, "", {});
  expect_head("Status: 999 Custom\r\n\r\n", 999, "Custom", {});
  expect_head("Status: 500\tBroken\r\n\r\n", 500, "Broken", {});
  // Status may come after other headers; it is not kept among them.
  expect_head("Content-Type: text/plain\r\nStatus: 403 Forbidden\r\nX-A: 1\r\n\r\n", 403,
              "Forbidden", {{"Content-Type", "text/plain"}, {"X-A", "1"}});
}

TEST_CASE("cgi_response: bad Status is refused") {
  expect_error("Status: abc\r\n\r\n", "bad Status: \"abc\"");
  expect_error("Status: 20\r\n\r\n", "bad Status");
  expect_error("Status: 2000\r\n\r\n", "bad Status");
  expect_error("Status: 200OK\r\n\r\n", "bad Status");
  expect_error("Status: 20x OK\r\n\r\n", "bad Status");
  expect_error("Status: 099\r\n\r\n", "bad Status");
  expect_error("Status: 000\r\n\r\n", "bad Status");
  expect_error("Status:\r\n\r\n", "bad Status");
  expect_error("Status: -200\r\n\r\n", "bad Status");
  expect_error("Status: 200\r\nStatus: 404\r\n\r\n", "more than one status");
}

TEST_CASE("cgi_response: an HTTP status line first sets the status") {
  expect_head("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx", 200, "OK",
              {{"Content-Type", "text/html"}}, "x");
  expect_head("HTTP/1.0 404\nX-A: 1\n\n", 404, "", {{"X-A", "1"}});
  expect_head("HTTP/2 503 Busy\r\n\r\n", 503, "Busy", {});
  // A status line makes Location a plain header, not a redirect.
  expect_head("HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\n\r\n", 301, "Moved Permanently",
              {{"Location", "/new"}});
  expect_error("HTTP/1.1 abc\r\n\r\n", "bad status line");
  expect_error("HTTP/1.1 200 OK\r\nStatus: 404\r\n\r\n", "more than one status");
  // Only the first line may be a status line.
  expect_error("X-A: 1\r\nHTTP/1.1 200 OK\r\n\r\n",
               "header line without colon: \"HTTP/1.1 200 OK\"");
  // Not status lines: they fall through to header parsing and fail there.
  expect_error("HTTP/ 200 OK\r\n\r\n", "header line without colon");
  expect_error("HTTP/1. 200 OK\r\n\r\n", "header line without colon");
  expect_error("HTTP/1.1\r\n\r\n", "header line without colon");
}

TEST_CASE("cgi_response: Location variants") {
  SUBCASE("absolute URL without Status is a 302") {
    expect_head("Location: http://example.com/x?y=1\r\n\r\n", 302, "",
                {{"Location", "http://example.com/x?y=1"}});
    expect_head("Location: https://example.com/\r\nContent-Type: text/html\r\n\r\n<a>", 302, "",
                {{"Location", "https://example.com/"}, {"Content-Type", "text/html"}}, "<a>");
  }
  SUBCASE("network-path and relative references are client redirects") {
    expect_head("Location: //evil.example/x\r\n\r\n", 302, "", {{"Location", "//evil.example/x"}});
    expect_head("Location: other/page\r\n\r\n", 302, "", {{"Location", "other/page"}});
  }
  SUBCASE("with Status the status wins") {
    expect_head("Status: 301 Moved\r\nLocation: https://example.com/\r\n\r\n", 301, "Moved",
                {{"Location", "https://example.com/"}});
    expect_head("Location: /local\r\nStatus: 303 See Other\r\n\r\n", 303, "See Other",
                {{"Location", "/local"}});
    expect_head("Status: 200\r\nLocation: /local\r\n\r\n", 200, "", {{"Location", "/local"}});
  }
  SUBCASE("local path without Status is a local redirect") {
    std::string_view input = "Location: /cgi-bin/other?a=1&b=%20\r\n\r\nignored";
    Outcome o = run_all_ways(input);
    REQUIRE(o.done);
    CHECK(o.status == 0);
    CHECK(o.local_redirect == std::optional<std::string>("/cgi-bin/other?a=1&b=%20"));
    CHECK(o.headers == Pairs{{"Location", "/cgi-bin/other?a=1&b=%20"}});
    CHECK(o.body == "ignored");
  }
  SUBCASE("refused") {
    expect_error("Location:\r\n\r\n", "empty Location");
    expect_error("Location: /a\r\nLocation: /b\r\n\r\n", "more than one Location");
  }
}

TEST_CASE("cgi_response: malformed lines are refused with 502") {
  expect_error("Content-Type text/html\r\n\r\n",
               "header line without colon: \"Content-Type text/html\"");
  expect_error("Content-Type : text/html\r\n\r\n", "invalid character in header name");
  expect_error("Content-Type\t: text/html\r\n\r\n", "invalid character in header name");
  expect_error(": value\r\n\r\n", "empty header name");
  expect_error("X(a): value\r\n\r\n", "invalid character in header name");
  expect_error("X a: value\r\n\r\n", "invalid character in header name");
  expect_error("X-\xc3\xa9: value\r\n\r\n", "invalid character in header name");
  expect_error("X-A: 1\r\n continued\r\n\r\n", "obsolete line folding");
  expect_error("X-A: 1\r\n\tcontinued\r\n\r\n", "obsolete line folding");
  expect_error(" X-A: 1\r\n\r\n", "obsolete line folding");
  expect_error(std::string_view("X-A: a\0b\r\n\r\n", 12),
               "invalid character in header value: \"X-A: a\\x00b\"");
  expect_error("X-A: a\rb\r\n\r\n", "invalid character in header value");
  // A bare CR is not a line ending: it would let the backend split headers
  // differently for us and for a front end.
  expect_error("X-A: a\rX-B: b\r\n\r\n", "invalid character in header value");
  expect_error("X-A: a\r\r\n\r\n", "invalid character in header value");
  // Other control bytes would reach clients too.
  expect_error("X-A: a\x01b\r\n\r\n", "invalid character in header value");
  expect_error("X-A: a\x7f\r\n\r\n", "invalid character in header value");
  expect_error("HTTP/1.1 200 O\x01K\r\n\r\n", "bad status line");
  expect_error("Status: 200 O\x01K\r\n\r\n", "invalid character in header value");
  expect_error("\r\r\n", "header line without colon: \"\\x0d\"");
  // Every error names the backend as the culprit.
  Outcome o = run({"bad line\r\n\r\n"});
  REQUIRE(o.error.has_value());
  CHECK(o.error->what == "malformed header from backend: header line without colon: \"bad line\"");
}

TEST_CASE("cgi_response: an error is final") {
  CgiResponseParser parser;
  auto r = parser.feed("nonsense\r\nX-A: 1\r\n\r\n");
  REQUIRE(r.error.has_value());
  CHECK(r.error->http_status == 502);
  CHECK_FALSE(r.done);
  CHECK(parser.failed());
  auto again = parser.feed("X-B: 2\r\n\r\n");
  CHECK(again.consumed == 0);
  CHECK_FALSE(again.done);
  REQUIRE(again.error.has_value());
  CHECK(again.error->what == r.error->what);
}

TEST_CASE("cgi_response: header block size limit") {
  Limits limits;
  limits.header_bytes = 32;
  // Exactly 32 bytes of head (line endings and the empty line included).
  std::string_view fits = "X-Header: 0123456789abcdefgh\r\n\r\nbody";
  REQUIRE(fits.find("\r\n\r\n") + 4 == 32);
  Outcome ok = run_all_ways(fits, limits);
  CHECK(ok.done);
  CHECK(ok.body == "body");
  // One byte more is refused, however it arrives.
  expect_error("X-Header: 0123456789abcdefghi\r\n\r\nbody",
               "header block from backend larger than 32", limits);
  // A line that never ends is refused as soon as it passes the limit.
  CgiResponseParser parser(limits);
  CHECK_FALSE(parser.feed(std::string(32, 'x')).error.has_value());
  auto r = parser.feed("x");
  REQUIRE(r.error.has_value());
  CHECK(r.error->http_status == 502);
}

TEST_CASE("cgi_response: header count and size limits") {
  Limits limits;
  limits.header_count = 2;
  Outcome ok = run_all_ways("Status: 200\r\nX-A: 1\r\n\r\n", limits);
  CHECK(ok.done);
  expect_error("Status: 200\r\nX-A: 1\r\nX-B: 2\r\n\r\n", "more than 2 header lines", limits);

  Limits names;
  names.name_bytes = 4;
  CHECK(run_all_ways("X-AB: 1\r\n\r\n", names).done);
  expect_error("X-ABC: 1\r\n\r\n", "header name too long", names);

  Limits values;
  values.value_bytes = 3;
  CHECK(run_all_ways("X: 123  \r\n\r\n", values).done);
  expect_error("X: 1234\r\n\r\n", "header value too long", values);
}

TEST_CASE("cgi_response: error text escapes control bytes and is bounded") {
  std::string line(100, 'a');
  line[3] = '\x1b';
  Outcome o = run({line + "\r\n\r\n"});
  REQUIRE(o.error.has_value());
  CHECK(o.error->what == "malformed header from backend: header line without colon: \"aaa\\x1b" +
                             std::string(60, 'a') + "...\"");
}
