#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1_server.h"
#include "tests/support/split.h"

using namespace std::string_literals;

namespace {

using gw::BodyData;
using gw::BodyEnd;
using gw::CodecError;
using gw::Event;
using gw::FeedResult;
using gw::Header;
using gw::Http1ServerCodec;
using gw::Limits;
using gw::Request;
using gw::RequestStarted;
using gw::ResponseHead;

std::string show_request(const Request& r) {
  std::string s = "start " + r.method + " target=" + r.target + " path=" + r.path +
                  " query=" + r.query + " " + r.server_protocol +
                  " cl=" + (r.content_length ? std::to_string(*r.content_length) : "none") + "\n";
  for (const Header& h : r.headers) s += "  " + h.name + ": " + h.value + "\n";
  return s;
}

// Feeds the codec through a buffer of unconsumed bytes, as a Connection does,
// and answers each request once its body ended: pipelined requests are fed
// again after write_end. Events are recorded as text, BodyData runs joined.
struct Driver {
  explicit Driver(const Limits& limits = Limits{}) : codec(limits) {
    response.headers = {{"Content-Type", "text/plain"}, {"Content-Length", "2"}};
  }

  Http1ServerCodec codec;
  std::string buffer;  // fed but not consumed
  std::string out;     // written to the client
  std::optional<CodecError> error;
  bool respond = true;
  bool closed = false;  // write_end said the connection closes
  ResponseHead response;
  std::string response_body = "ok";
  size_t ended = 0;

  void read(std::string_view bytes) {
    buffer += bytes;
    while (!error && !closed) {
      std::vector<Event> events;
      FeedResult r = codec.feed(buffer, events, out);
      REQUIRE(r.consumed <= buffer.size());
      size_t ended_before = ended;
      for (const Event& ev : events) record(ev);
      buffer.erase(0, r.consumed);
      if (r.error) {
        CHECK(r.error->http_status >= 400);
        error = r.error;
        return;
      }
      if (respond && ended > ended_before) {
        codec.write_head(1, response, out);
        codec.write_body(1, response_body, out);
        if (!codec.write_end(1, out)) closed = true;
        continue;
      }
      if (r.consumed == 0) return;
    }
  }

  void record(const Event& ev) {
    if (const auto* started = std::get_if<RequestStarted>(&ev)) {
      flush_body();
      CHECK(started->stream == 1);
      transcript_ += show_request(started->request);
    } else if (const auto* body = std::get_if<BodyData>(&ev)) {
      CHECK(!body->data.empty());
      body_ += body->data;
    } else if (std::holds_alternative<BodyEnd>(ev)) {
      flush_body();
      transcript_ += "end\n";
      ++ended;
    } else {
      transcript_ += "unexpected event\n";
    }
  }

  std::string events() {
    flush_body();
    return transcript_;
  }

 private:
  void flush_body() {
    if (body_.empty()) return;
    transcript_ += "body " + body_ + "\n";
    body_.clear();
  }
  std::string transcript_;
  std::string body_;
};

Driver run(std::string_view input, const Limits& limits = Limits{}) {
  Driver d(limits);
  d.read(input);
  return d;
}

// The complete error response the codec writes.
std::string error_response(int status, std::string_view what, bool with_body = true) {
  std::string reason(gw::reason_phrase(status));
  std::string body = reason + ": " + std::string(what) + "\n";
  std::string s = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                  "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n\r\n";
  if (with_body) s += body;
  return s;
}

const std::string kOk =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

const std::string kGet =
    "GET /a/b%20c?x=1&y=%20z HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1.0\r\n"
    "Accept: */*\r\n\r\n";
const std::string kGetEvents =
    "start GET target=/a/b%20c?x=1&y=%20z path=/a/b c query=x=1&y=%20z HTTP/1.1 cl=0\n"
    "  Host: example.com\n  User-Agent: t/1.0\n  Accept: */*\nend\n";

const std::string kPost =
    "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 11\r\n\r\nhello world";
const std::string kPostEvents =
    "start POST target=/form path=/form query= HTTP/1.1 cl=11\n  Host: h\n"
    "  Content-Type: application/x-www-form-urlencoded\n  Content-Length: 11\n"
    "body hello world\nend\n";

// Chunk extensions (with BWS and a quoted value) and trailers are accepted
// and dropped.
const std::string kChunked =
    "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n6 ; x=\"q;r\"\r\n world\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";
const std::string kChunkedEvents =
    "start POST target=/up path=/up query= HTTP/1.1 cl=none\n  Host: h\nbody hello world\nend\n";

const std::string kHttp10 = "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
const std::string kHttp10Events = "start GET target=/old path=/old query= HTTP/1.0 cl=0\nend\n";
const std::string kHttp10Ok =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    "Connection: keep-alive\r\n\r\nok";

struct Valid {
  std::string input;
  std::string events;
  std::string out;
};

std::vector<Valid> valid_inputs() {
  return {
      {kGet, kGetEvents, kOk},
      {kPost, kPostEvents, kOk},
      {kChunked, kChunkedEvents, kOk},
      {kHttp10, kHttp10Events, kHttp10Ok},
      {"\r\n\r\n" + kGet, kGetEvents, kOk},
      {kGet + kPost + "\r\n" + kChunked, kGetEvents + kPostEvents + kChunkedEvents,
       kOk + kOk + kOk},
  };
}

}  // namespace

TEST_CASE("http1 server: a GET becomes a Request and a byte-exact response") {
  Driver d = run(kGet);
  CHECK_FALSE(d.error);
  CHECK(d.events() == kGetEvents);
  CHECK(d.out == kOk);
  CHECK(d.buffer.empty());
  CHECK_FALSE(d.closed);
}

TEST_CASE("http1 server: every split point gives the same events and output") {
  for (const Valid& v : valid_inputs()) {
    CAPTURE(v.input);
    Driver whole = run(v.input);
    REQUIRE_FALSE(whole.error);
    REQUIRE(whole.events() == v.events);
    REQUIRE(whole.out == v.out);
    gw::test::for_each_split(v.input, [&](std::string_view a, std::string_view b) {
      Driver d;
      d.read(a);
      d.read(b);
      CHECK_FALSE(d.error);
      CHECK(d.events() == v.events);
      CHECK(d.out == v.out);
    });
    Driver bytes;
    for (char c : v.input) bytes.read(std::string_view(&c, 1));
    CHECK(bytes.events() == v.events);
    CHECK(bytes.out == v.out);
  }
}

TEST_CASE("http1 server: every truncation of a valid request needs more, never fails") {
  for (const Valid& v : valid_inputs()) {
    for (size_t n = 0; n < v.input.size(); ++n) {
      CAPTURE(v.input.substr(0, n));
      Driver d;
      d.respond = false;
      d.read(std::string_view(v.input).substr(0, n));
      CHECK_FALSE(d.error);
      CHECK(d.out.empty());
      if (v.events == kGetEvents + kPostEvents + kChunkedEvents) continue;
      CHECK(d.ended == 0);  // the request is not complete yet
    }
  }
}

TEST_CASE("http1 server: pipelined requests wait for write_end") {
  const std::string input = kGet + kPost + kChunked;
  Http1ServerCodec codec(Limits{});
  std::string out;
  std::vector<Event> events;
  FeedResult r = codec.feed(input, events, out);
  CHECK_FALSE(r.error);
  CHECK(r.consumed == kGet.size());  // stops at the end of the first request
  CHECK(events.size() == 2);
  std::string_view rest = std::string_view(input).substr(r.consumed);

  events.clear();
  r = codec.feed(rest, events, out);  // nothing more until the response ends
  CHECK(r.consumed == 0);
  CHECK(events.empty());

  ResponseHead head;
  head.status = 204;
  codec.write_head(1, head, out);
  CHECK(codec.write_end(1, out));
  CHECK(out == "HTTP/1.1 204 No Content\r\n\r\n");

  r = codec.feed(rest, events, out);
  CHECK(r.consumed == kPost.size());
  REQUIRE(events.size() == 3);
  CHECK(std::get<BodyData>(events[1]).data == "hello world");
  rest.remove_prefix(r.consumed);

  events.clear();
  CHECK(codec.write_abort(1, out) == false);  // a cut response closes the connection
  r = codec.feed(rest, events, out);
  CHECK(r.consumed == 0);
  CHECK(events.empty());
  CHECK_FALSE(r.error);
}

TEST_CASE("http1 server: keep-alive rules for HTTP/1.0 and HTTP/1.1") {
  struct Case {
    std::string request;
    bool keep;
    std::string connection;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true, ""},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false, "Connection: close\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", false,
       "Connection: close\r\n"},
      {"GET / HTTP/1.0\r\n\r\n", false, "Connection: close\r\n"},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, "Connection: keep-alive\r\n"},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false, "Connection: close\r\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.request);
    Driver d = run(c.request);
    CHECK(d.closed == !c.keep);
    CHECK(d.out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n" +
                       c.connection + "\r\nok");
  }
}

TEST_CASE("http1 server: close_after_current turns keep-alive into Connection: close") {
  for (const char* request :
       {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"}) {
    CAPTURE(request);
    Http1ServerCodec codec(Limits{});
    std::string out;
    std::vector<Event> events;
    REQUIRE(codec.feed(request, events, out).consumed == std::string_view(request).size());
    codec.close_after_current();  // a graceful stop, with the request in flight
    ResponseHead head;
    head.status = 200;
    head.headers = {{"Content-Length", "2"}};
    codec.write_head(1, head, out);
    codec.write_body(1, "ok", out);
    CHECK_FALSE(codec.write_end(1, out));
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    // The client asked to keep the connection: it may still be sending.
    CHECK_FALSE(codec.peer_finished());
  }
}

TEST_CASE("http1 server: request framing and fields") {
  SUBCASE("hop-by-hop fields are honoured and dropped, duplicate CLs folded") {
    Driver d =
        run("PUT /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: 300\r\n"
            "TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nX-A: 1\r\n"
            "Content-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(d.events() ==
          "start PUT target=/x path=/x query= HTTP/1.1 cl=3\n  Host: h\n  X-A: 1\n"
          "  Content-Length: 3\nbody abc\nend\n");
  }
  SUBCASE("OWS around values is trimmed, empty values kept") {
    Driver d = run("GET / HTTP/1.1\r\nHost:h\r\nX-A: \t spaced out \t\r\nX-Empty:\r\n\r\n");
    CHECK(d.events() ==
          "start GET target=/ path=/ query= HTTP/1.1 cl=0\n  Host: h\n  X-A: spaced out\n"
          "  X-Empty: \nend\n");
  }
  SUBCASE("absolute-form: the path is used and the authority replaces Host") {
    Driver d =
        run("GET http://example.com:8080/p%41?q=1 HTTP/1.1\r\nHost: other\r\nX-A: 1\r\n\r\n");
    CHECK(d.events() ==
          "start GET target=/p%41?q=1 path=/pA query=q=1 HTTP/1.1 cl=0\n  X-A: 1\n"
          "  Host: example.com:8080\nend\n");
    Driver bare = run("GET HTTP://h?x HTTP/1.1\r\n\r\n");
    CHECK(bare.events() == "start GET target=/?x path=/ query=x HTTP/1.1 cl=0\n  Host: h\nend\n");
  }
  SUBCASE("asterisk-form for OPTIONS") {
    Driver d = run("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(d.events() == "start OPTIONS target=* path=* query= HTTP/1.1 cl=0\n  Host: h\nend\n");
  }
  SUBCASE("HTTP/1.0 needs no Host; Content-Length: 0 has no body") {
    Driver d = run("POST /p HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    CHECK(d.events() ==
          "start POST target=/p path=/p query= HTTP/1.0 cl=0\n  Content-Length: 0\nend\n");
  }
  SUBCASE("a 16-digit chunk size is accepted") {
    Driver d =
        run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
            "000000000000000A\r\n0123456789\r\n0000\r\n\r\n");
    CHECK(d.events() ==
          "start POST target=/ path=/ query= HTTP/1.1 cl=none\n  Host: h\nbody 0123456789\nend\n");
  }
}

TEST_CASE("http1 server: malformed requests get a complete error response") {
  struct Bad {
    std::string input;
    int status;
    std::string what;
  };
  const std::string host = "Host: h\r\n";
  const std::string post = "POST / HTTP/1.1\r\nHost: h\r\n";
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  const Bad cases[] = {
      // request line
      {"GET  / HTTP/1.1\r\n", 400, "malformed HTTP version"},
      {"GET  HTTP/1.1\r\n", 400, "empty request target"},
      {"GET / HTTP/1.1 \r\n", 400, "malformed HTTP version"},
      {"GET /\r\n", 400, "malformed request line"},
      {"GET / http/1.1\r\n", 400, "malformed HTTP version"},
      {"GET / HTTP/1.10\r\n", 400, "malformed HTTP version"},
      {"G(ET / HTTP/1.1\r\n", 400, "invalid method"},
      {"GET a HTTP/1.1\r\n", 400, "invalid request target"},
      {"GET * HTTP/1.1\r\n", 400, "'*' target on a method other than OPTIONS"},
      {"GET /%zz HTTP/1.1\r\n", 400, "bad percent-encoding in path"},
      {"GET /a%00 HTTP/1.1\r\n", 400, "bad percent-encoding in path"},
      {"GET /a#b HTTP/1.1\r\n", 400, "invalid character in request target"},
      {"GET /\x01 HTTP/1.1\r\n", 400, "invalid character in request target"},
      {"GET /\xc3\xa9 HTTP/1.1\r\n", 400, "invalid character in request target"},
      {"GET http://u@h/ HTTP/1.1\r\n", 400, "invalid authority in request target"},
      {"GET ftp://h/ HTTP/1.1\r\n", 400, "unsupported URI scheme"},
      {"GET / HTTP/2.0\r\n", 505, "HTTP version not supported"},
      {"GET / HTTP/1.2\r\n", 505, "HTTP version not supported"},
      {"GET / HTTP/0.9\r\n", 505, "HTTP version not supported"},
      {"GET / HTTP/1.1\n", 400, "bare LF"},
      {"\rGET / HTTP/1.1\r\n", 400, "invalid method"},
      // fields
      {"GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "bare LF"},
      {"GET / HTTP/1.1\r\n\r\n", 400, "missing Host"},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "duplicate Host"},
      {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host"},
      {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n", 400, "obsolete line folding"},
      {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "invalid character in header name"},
      {"GET / HTTP/1.1\r\nHosth\r\n\r\n", 400, "header line without colon"},
      {"GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "empty header name"},
      {"GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400, "invalid character in header value"},
      {"GET / HTTP/1.1\r\n" + host + "X-A: a\0b\r\n\r\n"s, 400,
       "invalid character in header value"},
      {"GET / HTTP/1.1\r\n" + host + "Expect: fly\r\n\r\n", 417, "unsupported expectation"},
      // framing
      {post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "both Content-Length and Transfer-Encoding"},
      {post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
       "both Content-Length and Transfer-Encoding"},
      {post + "Transfer-Encoding: gzip\r\n\r\n", 501, "unsupported transfer coding"},
      {post + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer coding"},
      {post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "invalid Transfer-Encoding"},
      {post + "Transfer-Encoding:\r\n\r\n", 400, "invalid Transfer-Encoding"},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "Transfer-Encoding in an HTTP/1.0 request"},
      {post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
       "conflicting Content-Length values"},
      {post + "Content-Length: 5, 6\r\n\r\n", 400, "conflicting Content-Length values"},
      {post + "Content-Length: +5\r\n\r\n", 400, "invalid Content-Length"},
      {post + "Content-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
      {post + "Content-Length: 5 5\r\n\r\n", 400, "invalid Content-Length"},
      {post + "Content-Length: 0x5\r\n\r\n", 400, "invalid Content-Length"},
      {post + "Content-Length:\r\n\r\n", 400, "invalid Content-Length"},
      {post + "Content-Length: 18446744073709551616\r\n\r\n", 400, "invalid Content-Length"},
      // chunked bodies
      {chunked + "zz\r\n", 400, "bad chunk size"},
      {chunked + "-1\r\n", 400, "bad chunk size"},
      {chunked + "0x5\r\n", 400, "bad chunk size"},
      {chunked + "\r\n", 400, "bad chunk size"},
      {chunked + "5 \r\nhello\r\n", 400, "bad chunk size"},
      {chunked + "00000000000000001\r\n", 400, "chunk size has too many digits"},
      {chunked + "FFFFFFFFFFFFFFFF0\r\n", 400, "chunk size has too many digits"},
      {chunked + "5\nhello", 400, "bad chunk size"},
      {chunked + "5\r\rhello", 400, "bad chunk size line"},
      {chunked + "5\r\nhelloX", 400, "chunk data longer than its size"},
      {chunked + "5\r\nhello\rX", 400, "bad CRLF after chunk data"},
      {chunked + "5;\x01\r\n", 400, "bad chunk extension"},
      {chunked + "5;" + std::string(5000, 'e') + "\r\n", 400, "chunk extension too long"},
      {chunked + "0\r\nX: a\r\n b\r\n\r\n", 400, "obsolete line folding in trailer"},
      {chunked + "0\r\nX : a\r\n\r\n", 400, "invalid character in trailer name"},
      {chunked + "0\r\nX: a\rb\r\n\r\n", 400, "bare CR in trailer"},
      {chunked + "0\r\n\rX", 400, "bad end of chunked body"},
  };
  for (const Bad& c : cases) {
    CAPTURE(c.input);
    Driver d = run(c.input);
    REQUIRE(d.error);
    CHECK(d.error->http_status == c.status);
    CHECK_FALSE(d.error->what.empty());
    CHECK(d.out == error_response(c.status, c.what));
    // Errors too are the same at every split.
    gw::test::for_each_split(c.input, [&](std::string_view a, std::string_view b) {
      Driver s;
      s.read(a);
      s.read(b);
      REQUIRE(s.error);
      CHECK(s.error->http_status == c.status);
      CHECK(s.out == d.out);
      CHECK(s.events() == d.events());
    });
  }
}

TEST_CASE("http1 server: an exact 400 response, and nothing after an error") {
  Http1ServerCodec codec(Limits{});
  std::string out;
  std::vector<Event> events;
  FeedResult r = codec.feed("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", events, out);
  REQUIRE(r.error);
  CHECK(r.error->http_status == 400);
  CHECK(events.empty());
  CHECK(out ==
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n"
        "Connection: close\r\n\r\nBad Request: missing Host\n");
  out.clear();
  r = codec.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n", events, out);
  CHECK(r.consumed == 0);
  CHECK(r.error);
  CHECK(events.empty());
  CHECK(out.empty());
}

TEST_CASE("http1 server: size limits answer 414 and 431") {
  Limits small;
  small.request_line_bytes = 100;
  small.header_bytes = 300;
  small.header_count = 4;
  small.name_bytes = 16;
  small.value_bytes = 50;
  const std::string line_prefix = "GET /";
  const std::string line_suffix = " HTTP/1.1";
  auto request_line = [&](size_t size) {
    return line_prefix + std::string(size - line_prefix.size() - line_suffix.size(), 'a') +
           line_suffix + "\r\n";
  };

  CHECK_FALSE(run(request_line(100) + "Host: h\r\n\r\n", small).error);
  Driver long_line = run(request_line(101) + "Host: h\r\n\r\n", small);
  REQUIRE(long_line.error);
  CHECK(long_line.out == error_response(414, "request line too long (limits.request_line_bytes)"));
  // Reported without waiting for the line end, once it cannot fit.
  Driver partial = run(std::string(101, 'G'), small);
  CHECK_FALSE(partial.error);
  partial.read("G");
  REQUIRE(partial.error);
  CHECK(partial.error->http_status == 414);

  const std::string start = "GET / HTTP/1.1\r\nHost: h\r\n";
  CHECK_FALSE(run(start + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", small).error);
  CHECK(run(start + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", small).out ==
        error_response(431, "too many header fields (limits.header_count)"));
  CHECK_FALSE(run(start + std::string(16, 'n') + ": v\r\n\r\n", small).error);
  CHECK(run(start + std::string(17, 'n') + ": v\r\n\r\n", small).out ==
        error_response(431, "header name too long (limits.name_bytes)"));
  CHECK_FALSE(run(start + "V: " + std::string(50, 'v') + "\r\n\r\n", small).error);
  CHECK(run(start + "V: " + std::string(51, 'v') + "\r\n\r\n", small).out ==
        error_response(431, "header value too long (limits.value_bytes)"));

  // The whole head, request line included, within header_bytes: exactly at
  // the limit passes, one byte more fails, also while a line is incomplete.
  Limits head_limit;
  head_limit.header_bytes = 300;
  std::string head = start + "Y: ";
  head += std::string(head_limit.header_bytes - head.size() - 4, 'y') + "\r\n\r\n";
  REQUIRE(head.size() == head_limit.header_bytes);
  CHECK_FALSE(run(head, head_limit).error);
  head.insert(head.size() - 4, "y");
  CHECK(run(head, head_limit).out == error_response(431,
                                                    "request head too large "
                                                    "(limits.header_bytes)"));
  Driver incomplete = run(start + "Y: " + std::string(300, 'y'), head_limit);
  CHECK(incomplete.out == error_response(431, "request head too large (limits.header_bytes)"));
}

TEST_CASE("http1 server: max_body_bytes answers 413") {
  Limits limits;
  limits.max_body_bytes = 10;
  Driver exact = run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits);
  CHECK_FALSE(exact.error);
  Driver over = run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits);
  CHECK(over.out == error_response(413, "body too large (limits.max_body_bytes)"));
  Driver chunked =
      run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
          "6\r\nhello!\r\n5\r\nworld\r\n0\r\n\r\n",
          limits);
  CHECK(chunked.events() ==
        "start POST target=/ path=/ query= HTTP/1.1 cl=none\n  Host: h\nbody hello!\n");
  CHECK(chunked.out == error_response(413, "body too large (limits.max_body_bytes)"));
}

TEST_CASE("http1 server: Expect: 100-continue") {
  const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  SUBCASE("answered at RequestStarted, before the body arrives") {
    Driver d;
    d.read("POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n");
    CHECK(d.out == kContinue);
    CHECK(d.events() ==
          "start POST target=/u path=/u query= HTTP/1.1 cl=5\n  Host: h\n  Content-Length: 5\n");
    d.read("hello");
    CHECK(d.out == kContinue + kOk);
  }
  SUBCASE("for a chunked body too") {
    Driver d = run(
        "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n");
    CHECK(d.out == kContinue + kOk);
  }
  SUBCASE("ignored without a body and from HTTP/1.0 clients") {
    CHECK(run("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").out == kOk);
    CHECK(run("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").out ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
          "Connection: close\r\n\r\nok");
    CHECK(run("POST / HTTP/1.0\r\nExpect: fly\r\nContent-Length: 1\r\n\r\nx").error ==
          std::nullopt);
  }
}

namespace {

// Feeds one whole request; the codec then waits for its response.
void feed_request(Http1ServerCodec& codec, std::string_view request, std::string& out) {
  std::vector<Event> events;
  FeedResult r = codec.feed(request, events, out);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.consumed == request.size());
  REQUIRE(std::holds_alternative<BodyEnd>(events.back()));
}

struct Written {
  std::string out;
  bool keep;
};

Written respond(std::string_view request, const ResponseHead& head,
                const std::vector<std::string>& body) {
  Http1ServerCodec codec(Limits{});
  Written w{"", false};
  feed_request(codec, request, w.out);
  w.out.clear();
  codec.write_head(1, head, w.out);
  for (const std::string& piece : body) codec.write_body(1, piece, w.out);
  w.keep = codec.write_end(1, w.out);
  return w;
}

ResponseHead make_head(int status, std::vector<Header> headers, std::string reason = "") {
  ResponseHead head;
  head.status = status;
  head.reason = std::move(reason);
  head.headers = std::move(headers);
  return head;
}

const char kGet11[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

}  // namespace

TEST_CASE("http1 server: response framing") {
  SUBCASE("chunked for HTTP/1.1 without Content-Length; empty writes add nothing") {
    Written w =
        respond(kGet11, make_head(200, {{"Content-Type", "text/html"}}), {"hello", "", "world!"});
    CHECK(w.out ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n");
    CHECK(w.keep);
  }
  SUBCASE("close-delimited for HTTP/1.0 without Content-Length") {
    Written w = respond("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", make_head(200, {}),
                        {"da", "ta"});
    CHECK(w.out == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndata");
    CHECK_FALSE(w.keep);
  }
  SUBCASE("hop-by-hop and unsafe fields from the backend are dropped") {
    Written w = respond(kGet11,
                        make_head(201,
                                  {{"Connection", "keep-alive"},
                                   {"Keep-Alive", "timeout=5"},
                                   {"Transfer-Encoding", "chunked"},
                                   {"Upgrade", "h2c"},
                                   {"TE", "trailers"},
                                   {"Proxy-Connection", "x"},
                                   {"X-Bad", "a\r\nSet-Cookie: evil"},
                                   {"Bad Name", "v"},
                                   {"X-Ok", "1"},
                                   {"Content-Length", "3"}},
                                  "Fine"),
                        {"abc"});
    CHECK(w.out == "HTTP/1.1 201 Fine\r\nX-Ok: 1\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(w.keep);
  }
  SUBCASE("an invalid status or reason is replaced") {
    Written w = respond(kGet11, make_head(42, {{"Content-Length", "0"}}, "x\r\ny"), {});
    CHECK(w.out == "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  }
  SUBCASE("an invalid Content-Length from the backend falls back to chunked") {
    Written w = respond(kGet11, make_head(200, {{"Content-Length", "3"}, {"Content-Length", "4"}}),
                        {"abc"});
    CHECK(w.out == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  }
  SUBCASE("more body than Content-Length is cut and the connection closed") {
    Written w = respond(kGet11, make_head(200, {{"Content-Length", "3"}}), {"ab", "cdef"});
    CHECK(w.out == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    CHECK_FALSE(w.keep);
  }
  SUBCASE("less body than Content-Length closes the connection") {
    Written w = respond(kGet11, make_head(200, {{"Content-Length", "5"}}), {"abc"});
    CHECK(w.out == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc");
    CHECK_FALSE(w.keep);
  }
}

TEST_CASE("http1 server: HEAD, 1xx, 204 and 304 carry no body") {
  ResponseHead with_length = make_head(200, {{"Content-Length", "5"}});
  Written head = respond("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", with_length, {"hello"});
  CHECK(head.out == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  CHECK(head.keep);
  Written head_unknown = respond("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", make_head(200, {}), {"x"});
  CHECK(head_unknown.out == "HTTP/1.1 200 OK\r\n\r\n");
  CHECK(head_unknown.keep);
  Written head10 =
      respond("HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", make_head(200, {}), {"x"});
  CHECK(head10.out == "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");
  CHECK(head10.keep);
  Written no_content = respond(kGet11, make_head(204, {{"Content-Length", "5"}}), {"hello"});
  CHECK(no_content.out == "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(no_content.keep);
  Written not_modified = respond(kGet11, make_head(304, {{"Content-Length", "10"}}), {"hello"});
  CHECK(not_modified.out == "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
  CHECK(not_modified.keep);
  Written interim = respond(kGet11, make_head(100, {{"Content-Length", "5"}}), {"hello"});
  CHECK(interim.out == "HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n");
  CHECK_FALSE(interim.keep);
  // An error answering a HEAD request has no body either.
  CHECK(run("HEAD / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n").out ==
        error_response(501, "unsupported transfer coding", false));
}

TEST_CASE("http1 server: a response that starts before the request body ends closes") {
  Http1ServerCodec codec(Limits{});
  std::string out;
  std::vector<Event> events;
  FeedResult r =
      codec.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", events, out);
  CHECK_FALSE(r.error);
  codec.write_head(1, make_head(413, {{"Content-Length", "0"}}), out);
  CHECK(out == "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK_FALSE(codec.write_end(1, out));
  events.clear();
  r = codec.feed("defghij", events, out);
  CHECK(r.consumed == 0);
  CHECK(events.empty());
}

TEST_CASE("http1 server: no error response once a response head went out") {
  Http1ServerCodec codec(Limits{});
  std::string out;
  std::vector<Event> events;
  FeedResult r = codec.feed(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", events, out);
  CHECK_FALSE(r.error);
  codec.write_head(1, make_head(200, {}), out);
  codec.write_body(1, "partial", out);
  const std::string written = out;
  CHECK(written ==
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "7\r\npartial\r\n");
  events.clear();
  r = codec.feed("lo\r\nzz\r\n", events, out);
  REQUIRE(r.error);
  CHECK(r.error->http_status == 400);
  CHECK(events.size() == 1);  // "lo" arrived before the bad size
  CHECK(out == written);
  codec.write_body(1, "more", out);
  CHECK_FALSE(codec.write_end(1, out));
  CHECK(out == written);
}
