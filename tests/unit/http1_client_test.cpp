#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1_client.h"
#include "protocols/http1_server.h"
#include "tests/support/split.h"

namespace {

using gw::CodecError;
using gw::FeedResult;
using gw::Header;
using gw::Http1ResponseParser;
using gw::Limits;
using gw::ResponseHead;
namespace http1 = gw::http1;

// Feeds a parser through a buffer of unconsumed bytes, as the http backend
// does, and records the events as text (ResponseBody runs joined).
struct Driver {
  explicit Driver(std::string_view method = "GET", const Limits& limits = Limits{})
      : parser(limits, method) {}

  Http1ResponseParser parser;
  std::string buffer;
  std::optional<CodecError> error;

  void read(std::string_view bytes) {
    buffer += bytes;
    while (!error) {
      std::vector<http1::ClientEvent> events;
      FeedResult r = parser.feed(buffer, events);
      REQUIRE(r.consumed <= buffer.size());
      for (const auto& ev : events) record(ev);
      buffer.erase(0, r.consumed);
      if (r.error) {
        CHECK(r.error->http_status == 502);
        error = r.error;
      }
      if (r.consumed == 0) return;
    }
  }

  void eof() {
    std::vector<http1::ClientEvent> events;
    std::optional<CodecError> e = parser.finish_eof(events);
    for (const auto& ev : events) record(ev);
    if (e && !error) error = e;
  }

  void record(const http1::ClientEvent& ev) {
    if (const auto* started = std::get_if<http1::ResponseStarted>(&ev)) {
      flush_body();
      const ResponseHead& h = started->head;
      transcript_ += "start " + std::to_string(h.status) + " " + h.reason +
                     (started->keep_alive ? " keep" : " close") + "\n";
      for (const Header& f : h.headers) transcript_ += "  " + f.name + ": " + f.value + "\n";
    } else if (const auto* data = std::get_if<http1::ResponseBody>(&ev)) {
      CHECK(!data->data.empty());
      body_ += data->data;
    } else {
      flush_body();
      transcript_ += "end\n";
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

Driver run(std::string_view input, std::string_view method = "GET") {
  Driver d(method);
  d.read(input);
  return d;
}

struct Valid {
  std::string input;
  std::string method;
  std::string events;
};

const std::vector<Valid>& valid_responses() {
  static const std::vector<Valid> v = {
      {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", "GET",
       "start 200 OK keep\n  Content-Type: text/plain\n  Content-Length: 5\nbody hello\nend\n"},
      {"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
       "5;ext=\"v\"\r\nhello\r\n1 ;e\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n",
       "GET", "start 201 Created keep\n  X-A: 1\nbody hello!\nend\n"},
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
       "HTTP/1.1 204 No Content\r\n\r\n",
       "POST", "start 204 No Content keep\nend\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", "HEAD",
       "start 200 OK close\n  Content-Length: 5\nend\n"},
      {"HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n", "GET",
       "start 304 Not Modified keep\nend\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc", "GET",
       "start 200 OK keep\n  Content-Length: 3\nbody abc\nend\n"},
      {"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET",
       "start 404  keep\n  Content-Length: 0\nend\n"},
  };
  return v;
}

}  // namespace

TEST_CASE("http1 client: encode_request_head writes byte-exact heads") {
  const std::vector<Header> headers = {{"Host", "app:8080"},
                                       {"Connection", "close"},
                                       {"Keep-Alive", "1"},
                                       {"TE", "trailers"},
                                       {"Upgrade", "h2c"},
                                       {"Proxy-Connection", "x"},
                                       {"Transfer-Encoding", "chunked"},
                                       {"Content-Length", "99"},
                                       {"Expect", "100-continue"},
                                       {"X-Injected", "a\r\nX-Evil: 1"},
                                       {"Bad Name", "v"},
                                       {"Accept", "*/*"}};
  std::string out = "prefix|";
  CHECK(http1::encode_request_head(out, "POST", "/a%20b?c=d", headers, 11, true));
  CHECK(out ==
        "prefix|POST /a%20b?c=d HTTP/1.1\r\nHost: app:8080\r\nAccept: */*\r\n"
        "Content-Length: 11\r\n\r\n");

  out.clear();
  CHECK(http1::encode_request_head(out, "PUT", "/u", {{"Host", "h"}}, std::nullopt, true));
  CHECK(out == "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");

  out.clear();
  CHECK(http1::encode_request_head(out, "GET", "/", {{"Host", "h"}}, 0, false));
  CHECK(out == "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  out.clear();
  CHECK(http1::encode_request_head(out, "GET", "/", {{"Host", "h"}}, std::nullopt, false));
  CHECK(out == "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  out.clear();
  CHECK(http1::encode_request_head(out, "POST", "/", {{"Host", "h"}}, 0, true));
  CHECK(out == "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");

  out.clear();
  CHECK_FALSE(http1::encode_request_head(out, "GE T", "/", {}, std::nullopt, false));
  CHECK_FALSE(http1::encode_request_head(out, "GET", "/a b", {}, std::nullopt, false));
  CHECK_FALSE(http1::encode_request_head(out, "GET", "/a\r\nX: y", {}, std::nullopt, false));
  CHECK_FALSE(http1::encode_request_head(out, "GET", "http://h/", {}, std::nullopt, false));
  CHECK(out.empty());
}

TEST_CASE("http1 client: body chunks") {
  std::string out;
  http1::encode_body_chunk(out, "hello", true);
  http1::encode_body_chunk(out, "", true);
  http1::encode_body_chunk(out, std::string(26, 'x'), true);
  http1::encode_body_end(out, true);
  CHECK(out == "5\r\nhello\r\n1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n");
  out.clear();
  http1::encode_body_chunk(out, "hello", false);
  http1::encode_body_end(out, false);
  CHECK(out == "hello");
}

TEST_CASE("http1 client: every split point gives the same events") {
  for (const Valid& v : valid_responses()) {
    CAPTURE(v.input);
    Driver whole = run(v.input, v.method);
    REQUIRE_FALSE(whole.error);
    REQUIRE(whole.events() == v.events);
    CHECK(whole.parser.done());
    gw::test::for_each_split(v.input, [&](std::string_view a, std::string_view b) {
      Driver d(v.method);
      d.read(a);
      d.read(b);
      CHECK_FALSE(d.error);
      CHECK(d.events() == v.events);
    });
  }
}

TEST_CASE("http1 client: every truncation needs more, and is an error at EOF") {
  for (const Valid& v : valid_responses()) {
    for (size_t n = 0; n < v.input.size(); ++n) {
      CAPTURE(v.input.substr(0, n));
      Driver d(v.method);
      d.read(std::string_view(v.input).substr(0, n));
      CHECK_FALSE(d.error);
      CHECK_FALSE(d.parser.done());
      CHECK(d.parser.received_any() == (n > 0));
      d.eof();
      CHECK(d.error);
    }
  }
}

TEST_CASE("http1 client: close-delimited bodies end at EOF") {
  Driver d = run("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome");
  d.read(" data");
  CHECK_FALSE(d.parser.done());
  d.eof();
  CHECK_FALSE(d.error);
  CHECK(d.events() == "start 200 OK close\n  Content-Type: text/plain\nbody some data\nend\n");
  Driver d11 = run("HTTP/1.1 200 OK\r\n\r\nx");
  d11.eof();
  CHECK(d11.events() == "start 200 OK close\nbody x\nend\n");
}

TEST_CASE("http1 client: keep-alive") {
  CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").events() ==
        "start 200 OK keep\n  Content-Length: 0\nend\n");
  CHECK(run("HTTP/1.1 200 OK\r\nConnection: x, Close\r\nContent-Length: 0\r\n\r\n").events() ==
        "start 200 OK close\n  Content-Length: 0\nend\n");
  CHECK(run("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").events() ==
        "start 200 OK close\n  Content-Length: 0\nend\n");
  CHECK(run("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").events() ==
        "start 200 OK keep\n  Content-Length: 0\nend\n");
}

TEST_CASE("http1 client: one response at a time, then reset") {
  const std::string two =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc";
  Http1ResponseParser parser(Limits{}, "GET");
  std::vector<http1::ClientEvent> events;
  FeedResult r = parser.feed(two, events);
  CHECK_FALSE(r.error);
  CHECK(r.consumed == two.find("HTTP", 1));
  CHECK(events.size() == 3);
  CHECK(parser.done());
  events.clear();
  CHECK(parser.feed(std::string_view(two).substr(r.consumed), events).consumed == 0);
  CHECK(events.empty());
  parser.reset("GET");
  CHECK_FALSE(parser.done());
  CHECK_FALSE(parser.received_any());
  r = parser.feed(std::string_view(two).substr(r.consumed), events);
  CHECK(r.consumed == two.size() - two.find("HTTP", 1));
  REQUIRE(events.size() == 3);
  CHECK(std::get<http1::ResponseBody>(events[1]).data == "c");

  // A kept connection the upstream closed before answering.
  Http1ResponseParser idle(Limits{}, "GET");
  events.clear();
  std::optional<CodecError> e = idle.finish_eof(events);
  CHECK(e);
  CHECK_FALSE(idle.received_any());
  CHECK(events.empty());
}

TEST_CASE("http1 client: malformed responses are errors") {
  const char* cases[] = {
      "HTTP/1.1 200 OK\n\r\n",
      "HTTP/1.1 200 OK\r\nA: b\n\r\n",
      "http/1.1 200 OK\r\n",
      "HTTP/1.2 200 OK\r\n",
      "HTTP/2 200 OK\r\n",
      "HTTP/1.1 20 OK\r\n",
      "HTTP/1.1 2000 OK\r\n",
      "HTTP/1.1 abc OK\r\n",
      "HTTP/1.1 099 Low\r\n",
      "HTTP/1.1 600 High\r\n",
      "HTTP/1.1  200 OK\r\n",
      "HTTP/1.1 200 O\x01K\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX : 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n12345678901234567\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
  };
  for (const char* input : cases) {
    CAPTURE(input);
    Driver d = run(input);
    REQUIRE(d.error);
    CHECK_FALSE(d.error->what.empty());
    std::string before = d.events();
    d.read("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");  // nothing after an error
    CHECK(d.events() == before);
  }
  std::string many_interim;
  for (int i = 0; i < 17; ++i) many_interim += "HTTP/1.1 100 Continue\r\n\r\n";
  CHECK(run(many_interim).error);
  Limits small;
  small.header_bytes = 64;
  Driver big("GET", small);
  big.read("HTTP/1.1 200 OK\r\nX: " + std::string(60, 'x'));
  CHECK(big.error);
}

namespace {

// Feeds a whole request to a server codec and returns what it saw.
std::string server_events(std::string_view request) {
  gw::Http1ServerCodec codec(Limits{});
  std::vector<gw::Event> events;
  std::string out;
  gw::FeedResult r = codec.feed(request, events, out);
  CHECK_FALSE(r.error);
  CHECK(r.consumed == request.size());
  std::string s;
  for (const gw::Event& ev : events) {
    if (const auto* started = std::get_if<gw::RequestStarted>(&ev)) {
      const gw::Request& q = started->request;
      s += q.method + " " + q.target +
           " cl=" + (q.content_length ? std::to_string(*q.content_length) : "none") + "\n";
      for (const Header& h : q.headers) s += "  " + h.name + ": " + h.value + "\n";
    } else if (const auto* body = std::get_if<gw::BodyData>(&ev)) {
      s += "body " + std::string(body->data) + "\n";
    } else {
      s += "end\n";
    }
  }
  return s;
}

}  // namespace

TEST_CASE("http1 client: requests it encodes decode in the server codec") {
  const std::vector<Header> headers = {{"Host", "h"}, {"Connection", "close"}, {"X-A", "1"}};
  std::string chunked;
  REQUIRE(http1::encode_request_head(chunked, "POST", "/p?q", headers, std::nullopt, true));
  http1::encode_body_chunk(chunked, "hello", true);
  http1::encode_body_chunk(chunked, " world", true);
  http1::encode_body_end(chunked, true);
  CHECK(server_events(chunked) ==
        "POST /p?q cl=none\n  Host: h\n  X-A: 1\nbody hello\nbody  world\nend\n");

  std::string sized;
  REQUIRE(http1::encode_request_head(sized, "PUT", "/p", headers, 11, true));
  http1::encode_body_chunk(sized, "hello world", false);
  http1::encode_body_end(sized, false);
  CHECK(server_events(sized) ==
        "PUT /p cl=11\n  Host: h\n  X-A: 1\n  Content-Length: 11\nbody hello world\nend\n");

  std::string get;
  REQUIRE(http1::encode_request_head(get, "GET", "/", headers, 0, false));
  CHECK(server_events(get) == "GET / cl=0\n  Host: h\n  X-A: 1\nend\n");
}

TEST_CASE("http1 client: responses the server codec writes parse back") {
  struct Case {
    std::string request;
    std::string method;
    ResponseHead head;
    std::vector<std::string> body;
    std::string events;
  };
  auto head = [](int status, std::vector<Header> h) {
    ResponseHead r;
    r.status = status;
    r.headers = std::move(h);
    return r;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET",
       head(200, {{"X-A", "1"}}),
       {"abc", "", "de"},
       "start 200 OK keep\n  X-A: 1\nbody abcde\nend\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET",
       head(404, {{"Content-Length", "3"}}),
       {"abc"},
       "start 404 Not Found keep\n  Content-Length: 3\nbody abc\nend\n"},
      {"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
       "HEAD",
       head(200, {{"Content-Length", "3"}}),
       {"abc"},
       "start 200 OK keep\n  Content-Length: 3\nend\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET",
       head(204, {}),
       {"abc"},
       "start 204 No Content keep\nend\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
       "GET",
       head(304, {{"ETag", "\"x\""}}),
       {},
       "start 304 Not Modified keep\n  ETag: \"x\"\nend\n"},
      {"GET / HTTP/1.0\r\n\r\n",
       "GET",
       head(200, {}),
       {"abc"},
       "start 200 OK close\nbody abc\nend\n"},
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
       "POST",
       head(201, {}),
       {"made"},
       "start 201 Created keep\nbody made\nend\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.request);
    gw::Http1ServerCodec codec(Limits{});
    std::vector<gw::Event> events;
    std::string out;
    REQUIRE(codec.feed(c.request, events, out).consumed == c.request.size());
    codec.write_head(1, c.head, out);
    for (const std::string& piece : c.body) codec.write_body(1, piece, out);
    bool keep = codec.write_end(1, out);
    gw::test::for_each_split(out, [&](std::string_view a, std::string_view b) {
      Driver d(c.method);
      d.read(a);
      d.read(b);
      if (!keep) d.eof();
      CHECK_FALSE(d.error);
      CHECK(d.buffer.empty());
      CHECK(d.events() == c.events);
    });
  }
}
